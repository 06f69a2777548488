#!/usr/bin/env bash
# Installs everything tether needs to build, run and test, from Debian 12 packages only.
# Idempotent: packages already present are skipped by apt-get.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libuv1-dev node-llhttp libtomlplusplus-dev libssl-dev
  libgtest-dev libwebsockets-dev python3-websockets
  python3-jwt python3-cryptography  # the JWT tests make their tokens with PyJWT (tests/unit/jwt_tokens.py)
  curl wrk procps groff-base openssl iproute2
  clang libclang-rt-14-dev  # the libFuzzer harnesses (tests/fuzz/)
  libhiredis-dev            # the Redis broker ([pubsub] broker = "redis")
  zlib1g-dev                # permessage-deflate in the websocket module (the .deb's zlib1g comes from shlibdeps)
  redis-server redis-tools  # the tests start real redis-server processes
  chromium                  # the browser tests (tests/browser/, driven by puppeteer-core)
)
# Node.js and npm run the browser tests' driver; Debian's packages unless the machine has its own.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# puppeteer-core, a test tool from the npm registry, at the version the lock file pins.
browser_tests="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
if ! node -e "const d = process.argv[1];
  process.exit(require(d + '/node_modules/puppeteer-core/package.json').version ===
               require(d + '/package.json').dependencies['puppeteer-core'] ? 0 : 1)" "$browser_tests" 2>/dev/null; then
  npm ci --prefix "$browser_tests" --no-audit --no-fund --loglevel=error
fi
