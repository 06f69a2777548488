# Turns a file into a C array, so that a module can serve it without reading the disk:
#   cmake -DINPUT=page.html -DOUTPUT=page_html.c -DNAME=page_html [-DSCRIPT_HASH=page_script_csp]
#         -P embed_file.cmake
# defines `const unsigned char NAME[]` (the bytes, no NUL added) and `const size_t NAME_length`;
# with SCRIPT_HASH, also `const char SCRIPT_HASH[]`: "'sha256-<base64>'" of the text of the
# file's one inline <script>, the source a Content-Security-Policy then allows instead of
# 'unsafe-inline'.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n  " bytes "${bytes}")
get_filename_component(source "${INPUT}" NAME)

set(script_hash "")
if(SCRIPT_HASH)
  # Positions and lengths are in bytes; a quoted variable keeps every character (';' too).
  file(READ "${INPUT}" text)
  string(FIND "${text}" "<script>" open)
  string(FIND "${text}" "<script>" last_open REVERSE)
  string(FIND "${text}" "</script>" close)
  if(open EQUAL -1 OR close LESS open OR NOT open EQUAL last_open)
    message(FATAL_ERROR "${INPUT}: exactly one inline <script>...</script> expected")
  endif()
  math(EXPR start "${open} + 8")
  math(EXPR length "${close} - ${start}")
  string(SUBSTRING "${text}" ${start} ${length} script)
  string(SHA256 digest "${script}")
  # Base64 of the 32 bytes: 6 hex digits (3 bytes) at a time make 4 characters.
  set(alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  set(base64 "")
  string(APPEND digest "00")  # 32 bytes: pad to 33, and mark the last character as padding
  foreach(at RANGE 0 60 6)
    string(SUBSTRING "${digest}" ${at} 6 group)
    math(EXPR value "0x${group}")
    foreach(shift 18 12 6 0)
      math(EXPR index "(${value} >> ${shift}) & 63")
      string(SUBSTRING "${alphabet}" ${index} 1 char)
      string(APPEND base64 "${char}")
    endforeach()
  endforeach()
  string(SUBSTRING "${base64}" 0 43 base64)
  set(script_hash "const char ${SCRIPT_HASH}[] = \"'sha256-${base64}='\";\n")
endif()

file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${source} by cmake/embed_file.cmake: edit the source, not this file. */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {\n  ${bytes}0x00};\n"
  "const size_t ${NAME}_length = sizeof ${NAME} - 1;\n"
  "${script_hash}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
