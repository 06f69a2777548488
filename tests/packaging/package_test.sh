#!/usr/bin/env bash
# The packages as users get them: build all four, lint the debs, install them on this machine,
# run the installed server with the installed config, build a module against tether-dev, purge,
# and check the rpm layout in a scratch root. Needs root (dpkg -i). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "package test: needs root"; exit 1; }

work=$(mktemp -d /tmp/tether-packages-XXXXXX)
chmod 755 "$work"  # the workers, as user tether, load a module from here
passed=0 failed=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@" >>"$work/log" 2>&1; then passed=$((passed + 1)); echo "ok   $what"
  else failed=$((failed + 1)); echo "FAIL $what"; tail -20 "$work/log"; fi
}
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  dpkg --purge tether-dev tether >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
need=()
for p in lintian systemd rpm dpkg-dev fakeroot file pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
((${#need[@]})) && { apt-get update -qq; apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }

check "build the four packages" bash packaging/build-packages.sh "$work/out"
deb=$work/out/tether_*_*.deb dev=$work/out/tether-dev_*_*.deb
check "lintian reports no error" bash -c "lintian $deb $dev 2>&1 | tee $work/lintian.txt; ! grep -q '^E:' $work/lintian.txt"
grep '^W:' "$work/lintian.txt" | sed 's/^/     lintian warning: /'

dpkg --purge tether-dev tether >/dev/null 2>&1 || true
check "the debs install" bash -c "apt-get install -y -qq $deb $dev"
check "the installed binary and modules are hardened (PIE, RELRO, now, canaries, FORTIFY)" \
  bash tests/hardening_check.sh --fortify /usr/sbin/tether $(dpkg -L tether | grep '/tether/modules/.*\.so$')
check "the system user exists" id tether
check "/var/log/tether belongs to tether" bash -c '[ "$(stat -c %U /var/log/tether)" = tether ]'
mkdir -p /run/tether  # systemd's RuntimeDirectory; -t checks that the pid file's directory exists
check "the installed config passes -t" /usr/sbin/tether -t -c /etc/tether/tether.toml
check "systemd-analyze verify accepts the unit" systemd-analyze verify /lib/systemd/system/tether.service

# The installed binary on the installed config, started as root: workers drop to tether.
/usr/sbin/tether -c /etc/tether/tether.toml & server_pid=$!
healthy() { for _ in $(seq 50); do curl -fsS --max-time 2 http://127.0.0.1:8080/healthz >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
check "/healthz answers 200 from the installed health module" healthy
check "/metrics is served by the installed module" bash -c 'curl -fsS --max-time 2 http://127.0.0.1:8080/metrics | grep -q "^tether_generation 1$"'
check "/status.json shows the serving generation" bash -c 'curl -fsS --max-time 2 http://127.0.0.1:8080/status.json | grep -q "\"number\":1,\"state\":\"serving\""'
check "tether.js and its types are installed" test -f /usr/share/tether/js/tether.js -a -f /usr/share/tether/js/tether.d.ts
check "/tether.js serves the installed file as JavaScript" bash -c 'curl -fsS --max-time 2 -D $work/js.headers http://127.0.0.1:8080/tether.js | cmp - /usr/share/tether/js/tether.js && grep -qi "^content-type: text/javascript" $work/js.headers'
check "workers run as tether" bash -c "ps -o user= --ppid $server_pid | sort -u | grep -qx tether"
check "HUP reloads" bash -c "kill -HUP $server_pid; for _ in \$(seq 50); do grep -q 'reload complete: generation 2' /var/log/tether/error.log && exit 0; sleep 0.1; done; exit 1"
check "tether -s quit stops it" bash -c "/usr/sbin/tether -s quit -c /etc/tether/tether.toml && wait_gone() { for _ in \$(seq 100); do kill -0 $server_pid 2>/dev/null || return 0; sleep 0.1; done; return 1; }; wait_gone"
wait "$server_pid" 2>/dev/null; server_pid=""

# A module built against the installed tether-dev, with pkg-config and with CMake.
example=/usr/share/doc/tether-dev/examples/hello-module
check "the example builds with pkg-config" bash -c "cc -shared -fPIC -fvisibility=hidden \$(pkg-config --cflags tether-module) $example/hello.c -o $work/hello.so"
check "the example builds with CMake" bash -c "cmake -S $example -B $work/hello-build >/dev/null && cmake --build $work/hello-build >/dev/null"
port=18477
sed "s/127.0.0.1:8080/127.0.0.1:$port/; s#/run/tether/tether.pid#$work/tether.pid#; s#/var/log/tether/error.log#$work/error.log#" \
  /etc/tether/tether.toml > "$work/hello.toml"
printf '\n[modules.hello]\npath = "%s"\n[[route]]\npath = "/hello/*"\nhandler = "hello"\n' "$work/hello.so" >> "$work/hello.toml"
/usr/sbin/tether -c "$work/hello.toml" & server_pid=$!
check "the example module answers" bash -c "for _ in \$(seq 50); do [ \"\$(curl -fsS --max-time 2 http://127.0.0.1:$port/hello/world 2>/dev/null)\" = 'Hello, world!' ] && exit 0; sleep 0.1; done; exit 1"
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""

dpkg -L tether tether-dev | sort -u > "$work/files"
check "purge removes the packages" dpkg --purge tether-dev tether
check "purge leaves no file behind" bash -c "! while read -r f; do [ -f \"\$f\" ] && echo \"left: \$f\"; done < $work/files | grep ."
check "purge removes config and logs" bash -c '[ ! -e /etc/tether ] && [ ! -e /var/log/tether ]'
check "purge removes the user" bash -c '! id tether'

rpm_main=$(ls "$work"/out/tether-[0-9]*.rpm) rpm_dev=$(ls "$work"/out/tether-devel-*.rpm)
check "rpm layout" bash -c "rpm -qlp $rpm_main | grep -qx /usr/sbin/tether && rpm -qlp $rpm_main | grep -qx /usr/lib64/tether/modules/health.so && rpm -qlp $rpm_main | grep -qx /etc/tether/tether.toml && rpm -qlp $rpm_main | grep -qx /usr/lib/systemd/system/tether.service && rpm -qlp $rpm_dev | grep -qx /usr/include/tether/module.h"
check "the rpms install into a scratch root" bash -c "rpm -i --nodeps --noscripts --root $work/rpmroot $rpm_main $rpm_dev && [ -x $work/rpmroot/usr/sbin/tether ] && [ -f $work/rpmroot/usr/lib64/pkgconfig/tether-module.pc ]"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
