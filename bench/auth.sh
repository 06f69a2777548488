#!/usr/bin/env bash
# The cost of the auth module per WebSocket handshake: connects/s without auth (a route without
# [route.auth]) and with a token checked on every connect (HS256, ES256, RS256, EdDSA), or with
# backend authorization (backend-miss: every connect asks the backend; backend-hit: the
# allow-cache answers), side by side on the same server run, RUNS times each in turn; medians,
# and the extra time per handshake against the route without auth. Tokens are made by PyJWT
# (tests/integration/scripts/jwt_mint.py), one per family, passed as ?token=. The backend is the
# tests' Python one (tests/unit/auth_backend.py, threaded http.server): the miss figure is
# bounded by it, not by tether.
#
#   BUILD=build-rel bench/auth.sh                       # defaults: 2 workers, 5 runs of 5000 connects
#   RUNS=7 CONNECTIONS=10000 FAMILIES="HS256 ES256" bench/auth.sh
#
# Ends with one JSON line, for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-5}
CONNECTIONS=${CONNECTIONS:-5000}
FAMILIES=${FAMILIES:-"HS256 ES256 RS256 EdDSA backend-hit backend-miss"}
GEN_CPU=${GEN_CPU:-1}
CONCURRENCY=${CONCURRENCY:-100}  # handshakes in flight
MINT="/usr/bin/python3 tests/integration/scripts/jwt_mint.py"

/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-jwt python3-cryptography
}
[ -x "$BUILD/tether" ] && [ -x "$BUILD/bench/tether-bench" ] && [ -e "$BUILD/modules/auth.so" ] || {
  echo "build $BUILD first (-DTETHER_BUILD_BENCH=ON): tether, tether-bench and modules/auth.so" >&2
  exit 2
}

work=$(mktemp -d /tmp/tether-auth-bench-XXXXXX)
server_pid=""
backend_pid=""
stop_backend() {
  [ -n "$backend_pid" ] || return 0
  kill -TERM "$backend_pid" 2>/dev/null || true
  wait "$backend_pid" 2>/dev/null || true
  backend_pid=""
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; stop_backend; rm -rf "$work"' EXIT

$MINT keys "$work"
declare -A key_of=([HS256]="jwt_secret = \"$(cat "$work/hmac.secret")\"" [RS256]="jwt_public_key = \"$work/rsa.pem\""
                   [ES256]="jwt_public_key = \"$work/ec256.pem\"" [EdDSA]="jwt_public_key = \"$work/ed25519.pem\"")
specs=""
for f in $FAMILIES; do
  case $f in backend-*) ;; *) specs+="$f"$'\t'"$f"$'\t''{"sub":"bench","channels":["c"],"exp_in":3600}'$'\n' ;; esac
done
declare -A token_of
while IFS=$'\t' read -r name token; do token_of[$name]=$token; done < <(printf '%s' "$specs" | $MINT tokens "$work")

# The test backend, its stdin held open (it exits when that closes); it says "port N".
start_backend() {
  mkfifo "$work/backend.in"
  /usr/bin/python3 tests/unit/auth_backend.py 0 < "$work/backend.in" > "$work/backend.out" & backend_pid=$!
  exec 7> "$work/backend.in"
  for _ in $(seq 100); do grep -q '^port ' "$work/backend.out" 2>/dev/null && break; sleep 0.05; done
  backend_port=$(sed -n 's/^port //p' "$work/backend.out")
}

port=$(free_port)
auth_settings() {  # family: the [modules.auth] key and the /ws/* route's [route.auth]
  case $1 in
    backend-hit) printf '[modules.auth]\n[modules.websocket]\n[[route]]\npath = "/ws/*"\nhandler = "websocket"\n[route.auth]\nrequire = "backend"\nbackend = "http://127.0.0.1:%s/allow"\ncache_ttl = "1h"\n' "$backend_port" ;;
    backend-miss) printf '[modules.auth]\n[modules.websocket]\n[[route]]\npath = "/ws/*"\nhandler = "websocket"\n[route.auth]\nrequire = "backend"\nbackend = "http://127.0.0.1:%s/allow"\ncache_ttl = "0s"\n' "$backend_port" ;;
    *) printf '[modules.auth]\n%s\n[modules.websocket]\n[[route]]\npath = "/ws/*"\nhandler = "websocket"\n[route.auth]\nrequire = "token"\n' "${key_of[$1]}" ;;
  esac
}
start_server() {  # family
  cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
error_log = "$work/error.log"
modules_dir = "$PWD/$BUILD/modules"
[limits]
max_connections = 1000000
[[listen]]
address = "127.0.0.1:$port"
[[listen]]
address = "127.0.0.2:$port"
[[listen]]
address = "127.0.0.3:$port"
[[listen]]
address = "127.0.0.4:$port"
$(auth_settings "$1")
[[route]]
path = "/open/*"
handler = "websocket"
CONF
  "$BUILD"/tether -c "$work/tether.toml" & server_pid=$!
  wait_port "$port"
}

connects() {  # path label
  taskset -c "$GEN_CPU" "$BUILD"/bench/tether-bench connect --port "$port" --path "$1" --connections "$CONNECTIONS" \
    --concurrency "$CONCURRENCY" --hold 0 --label "$2" 2>/dev/null | tail -1 || true
}
field() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" <<< "$1"; }

case " $FAMILIES " in *" backend-"*) start_backend ;; esac
echo "auth bench: $WORKERS workers, $CONNECTIONS WebSocket connects per run ($CONCURRENCY in flight), $RUNS runs, generator on CPU $GEN_CPU ($(nproc) CPUs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
json="{\"workers\":$WORKERS,\"connections\":$CONNECTIONS"
for f in $FAMILIES; do
  start_server "$f"
  open=() checked=()
  # backend-hit: the first connect fills the allow-cache (the same credentials every time)
  [ "$f" != backend-hit ] || CONNECTIONS=1 connects "/ws/c" warm-up > /dev/null
  for run in $(seq "$RUNS"); do
    r=$(connects /open/c none); [ "$(field "$r" failed)" = 0 ] || echo "  run $run without auth: $r" >&2
    open+=("$(field "$r" connects_per_s)")
    r=$(connects "/ws/c?token=${token_of[$f]:-none}" "$f"); [ "$(field "$r" failed)" = 0 ] || echo "  run $run $f: $r" >&2
    checked+=("$(field "$r" connects_per_s)")
  done
  stop_server
  o=$(printf '%s\n' "${open[@]}" | median)
  c=$(printf '%s\n' "${checked[@]}" | median)
  extra=$(awk -v o="$o" -v c="$c" 'BEGIN { if (o > 0 && c > 0) printf "%.1f", 1e6 / c - 1e6 / o; else print "n/a" }')
  printf '  %-12s connects/s without auth: %7s  with auth: %7s  extra per handshake: %6s us wall (%s workers)  (runs: %s / %s)\n' \
    "$f" "$o" "$c" "$extra" "$WORKERS" "${open[*]}" "${checked[*]}"
  json+=",\"$f\":{\"without_auth\":$o,\"with_auth\":$c}"
done
echo "$json}"
