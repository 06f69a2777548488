#!/usr/bin/env bash
# Installs the dependencies, builds tether (as scripts/run.sh does) and runs the chat example in
# the foreground on examples/chat/chat.toml: http://127.0.0.1:8090/. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_BUILD_TESTS=OFF
cmake --build build -j"$(nproc)"
echo "tether chat: open http://127.0.0.1:8090/ in two browser windows (Ctrl-C to stop)"
exec ./build/tether -c examples/chat/chat.toml "$@"
