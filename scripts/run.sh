#!/usr/bin/env bash
# Installs the dependencies, builds tether and runs it in the foreground on conf/tether.toml
# (http://127.0.0.1:8080/). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_BUILD_TESTS=OFF
cmake --build build -j"$(nproc)"
exec ./build/tether -c conf/tether.toml "$@"
