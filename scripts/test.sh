#!/usr/bin/env bash
# Installs the dependencies, builds tether and its tests twice (optimised, then with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in both builds.
# Set TETHER_SKIP_SANITIZE=1 to run only the optimised build.
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
