#!/usr/bin/env bash
# The long fuzzing run: builds the libFuzzer harnesses (build-fuzz/, clang) and runs each for
# SECONDS (default 1800, 30 minutes) on a scratch copy of its seed corpus, printing executions
# and coverage per harness. A finding fails the run; its input is left in build-fuzz/fuzz-artifacts/.
#
#   bench/fuzz.sh                      # every harness, 30 minutes each, one after the other
#   bench/fuzz.sh 300 http_session     # one harness, 5 minutes
#   FUZZ_JOBS=2 bench/fuzz.sh 3600     # two at a time
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTETHER_FUZZ=ON \
    -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j"${JOBS:-2}" --target fuzzers >/dev/null
exec tests/fuzz/run.sh "$build" "$seconds" "$@"
