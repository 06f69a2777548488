#!/usr/bin/env bash
# Checks that ELF files were built hardened, as the top-level CMakeLists.txt asks:
#   PIE        an executable is ET_DYN with an interpreter (shared objects are position-independent
#              by nature: none may need text relocations)
#   RELRO      a GNU_RELRO segment, and immediate binding (BIND_NOW, or NOW in FLAGS / FLAGS_1)
#   canaries   __stack_chk_fail is imported (every file here has functions with local buffers)
#   FORTIFY    with --fortify: some __*_chk function is imported. A file that calls guarded libc
#              functions only unchecked gets a warning, not a failure: FORTIFY leaves a call
#              unchecked where the compiler proves it safe, and keepalive.so has only such calls
#              (hardening-check reports it as "no"). The check fails when no file has any.
# Usage: tests/hardening_check.sh [--fortify] FILE...   Prints one line per file and check.
set -uo pipefail
fortify=0
if [ "${1:-}" = --fortify ]; then fortify=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--fortify] FILE..."; exit 2; }
command -v readelf >/dev/null || { echo "readelf (binutils) is needed"; exit 2; }

# The functions glibc's FORTIFY replaces with a checked __<name>_chk when it can see the size.
guarded='memcpy|memmove|memset|mempcpy|stpcpy|stpncpy|strcpy|strncpy|strcat|strncat|sprintf|snprintf|vsprintf|vsnprintf|printf|fprintf|vprintf|vfprintf|dprintf|read|pread|pread64|recv|recvfrom|fgets|fread|getcwd|realpath|readlink|poll|ppoll|wcscpy|mbstowcs|wcstombs|syslog|vsyslog|confstr|getgroups|ttyname_r|gethostname|getlogin_r|explicit_bzero'
failures=0 fortified=0
verdict() {  # verdict FILE CHECK OK? DETAIL
  if [ "$3" = 1 ]; then echo "ok   $1: $2"; else echo "FAIL $1: $2 ($4)"; failures=$((failures + 1)); fi
}

for file in "$@"; do
  [ -n "$file" ] || continue  # an empty argument: CMake's generator expression for "no flag"
  if [ ! -f "$file" ]; then verdict "$file" exists 0 "no such file"; continue; fi
  header=$(readelf -hW "$file") segments=$(readelf -lW "$file") dynamic=$(readelf -dW "$file")
  symbols=$(readelf --dyn-syms -W "$file" | awk '$7 == "UND" {sub(/@.*/, "", $8); print $8}')
  type=$(awk '/Type:/ {print $2; exit}' <<<"$header")
  if grep -q 'INTERP' <<<"$segments"; then
    ok=0; [ "$type" = DYN ] && ok=1
    verdict "$file" "PIE" $ok "ELF type $type"
  else
    ok=1; grep -q 'TEXTREL' <<<"$dynamic" && ok=0
    verdict "$file" "position-independent (no TEXTREL)" $ok "has text relocations"
  fi
  ok=0; grep -q 'GNU_RELRO' <<<"$segments" && ok=1
  verdict "$file" "RELRO" $ok "no GNU_RELRO segment"
  ok=0; grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b' <<<"$dynamic" && ok=1
  verdict "$file" "immediate binding (-z now)" $ok "no BIND_NOW"
  ok=0; grep -qx '__stack_chk_fail' <<<"$symbols" && ok=1
  verdict "$file" "stack protector" $ok "__stack_chk_fail not imported"
  if [ $fortify = 1 ]; then
    checked=$(grep -cE '^__[a-z0-9_]+_chk$' <<<"$symbols")
    plain=$(grep -cxE "$guarded" <<<"$symbols")
    if [ "$checked" -gt 0 ] || [ "$plain" -eq 0 ]; then
      verdict "$file" "FORTIFY_SOURCE ($checked checked, $plain unchecked functions)" 1
    else
      echo "warn $file: FORTIFY_SOURCE left all $plain guarded calls unchecked (proved safe, or not fortified)"
    fi
    fortified=$((fortified + checked))
  fi
done
if [ $fortify = 1 ] && [ "$fortified" -eq 0 ]; then
  echo "FAIL FORTIFY_SOURCE: no file imports a checked (__*_chk) function"
  failures=$((failures + 1))
fi
[ $failures -eq 0 ]
