#!/usr/bin/env bash
# Installs the dependencies, builds tether and its tests twice (optimised, then with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in both builds, builds the
# libFuzzer harnesses with clang (build-fuzz/) and runs each for TETHER_FUZZ_SECONDS (default 40)
# on its seed corpus, two at a time (a finding fails), then (as root) builds the deb and rpm
# packages and tests them installed (tests/packaging/package_test.sh: it installs and purges the
# tether packages on this machine and uses 127.0.0.1:8080).
# TETHER_SKIP_SANITIZE=1 skips the sanitizer build, TETHER_SKIP_FUZZ=1 the fuzzing,
# TETHER_SKIP_PACKAGING=1 the package test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@"
  cmake --build "$dir" -j"$(nproc)"
  # Integration tests measure timeouts and run load: one at a time keeps them honest on 2 cores.
  ctest --test-dir "$dir" --output-on-failure --timeout 300
}

run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_BUILD_TESTS=ON
if [ "${TETHER_SKIP_SANITIZE:-0}" != 1 ]; then
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=ON -DTETHER_BUILD_TESTS=ON
fi
if [ "${TETHER_SKIP_FUZZ:-0}" != 1 ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTETHER_FUZZ=ON \
    -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_BENCH=OFF
  cmake --build build-fuzz -j"$(nproc)" --target fuzzers
  FUZZ_JOBS=$(nproc) tests/fuzz/run.sh build-fuzz "${TETHER_FUZZ_SECONDS:-40}"
fi
if [ "${TETHER_SKIP_PACKAGING:-0}" != 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    bash tests/packaging/package_test.sh
  else
    echo "package test skipped: it needs root (dpkg -i)"
  fi
fi
