#!/usr/bin/env bash
# Builds the four packages into DIR (default build-packages/):
#   tether_<version>_<arch>.deb  tether-dev_<version>_<arch>.deb       (Debian layout, multiarch)
#   tether-<version>.<arch>.rpm  tether-devel-<version>.<arch>.rpm     (lib64, /usr/lib/systemd)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-packages}")
bash scripts/install-deps.sh
need=()
for p in dpkg-dev rpm fakeroot file; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

common=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DTETHER_PACKAGING=ON -DTETHER_BUILD_TESTS=OFF)
cmake -S . -B "$out/deb" "${common[@]}" >/dev/null
cmake --build "$out/deb" -j"$(nproc)" >/dev/null
(cd "$out/deb" && cpack -G DEB >/dev/null)

cmake -S . -B "$out/rpm" "${common[@]}" -DCMAKE_INSTALL_LIBDIR=lib64 \
  -DTETHER_SYSTEMD_UNIT_DIR=/usr/lib/systemd/system >/dev/null
cmake --build "$out/rpm" -j"$(nproc)" >/dev/null
(cd "$out/rpm" && cpack -G RPM >/dev/null)

cp "$out"/deb/*.deb "$out"/rpm/*.rpm "$out"/
ls -1 "$out"/*.deb "$out"/*.rpm
