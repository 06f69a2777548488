# Turns a file into a C array, so that a module can serve it without reading the disk:
#   cmake -DINPUT=page.html -DOUTPUT=page_html.c -DNAME=page_html -P embed_file.cmake
# defines `const unsigned char NAME[]` (the bytes, no NUL added) and `const size_t NAME_length`.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n  " bytes "${bytes}")
get_filename_component(source "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${source} by cmake/embed_file.cmake: edit the source, not this file. */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {\n  ${bytes}0x00};\n"
  "const size_t ${NAME}_length = sizeof ${NAME} - 1;\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
