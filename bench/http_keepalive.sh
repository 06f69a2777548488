#!/usr/bin/env bash
# HTTP keep-alive throughput: tether's built-in `respond` route against Debian's nginx
# `return 200`, same body, same worker count, same wrk load, on loopback. Runs the two servers
# alternately RUNS times and prints every figure, the medians and the ratio tether/nginx.
#
#   bench/http_keepalive.sh                 # defaults: 2 workers, 5 runs of 10 s, 64 connections
#   WORKERS=1 RUNS=7 DURATION=5 CONNECTIONS=128 bench/http_keepalive.sh
#
# Output ends with one JSON line, for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-2}
RUNS=${RUNS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TETHER_PORT=${TETHER_PORT:-18180}
NGINX_PORT=${NGINX_PORT:-18181}

command -v nginx >/dev/null && command -v wrk >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx wrk
}
if [ ! -x build/tether ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target tether >/dev/null
fi

work=$(mktemp -d /tmp/tether-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
pid_file = "$work/tether.pid"
error_log = "$work/tether-error.log"
access_log = "off"
[[listen]]
address = "127.0.0.1:$TETHER_PORT"
[[route]]
path = "/"
respond = { status = 200, body = "tether\n", content_type = "text/plain" }
CONF

mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 10000; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location = / { default_type text/plain; return 200 "tether\n"; }
  }
}
CONF

./build/tether -c "$work/tether.toml" & pids+=($!)
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" & pids+=($!)
sleep 1
curl -fsS "http://127.0.0.1:$TETHER_PORT/" >/dev/null
curl -fsS "http://127.0.0.1:$NGINX_PORT/" >/dev/null

# Requests/s of one wrk run, with a check that every answer was a 200 without socket errors.
measure() {
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$1/")
  if grep -qE "Socket errors|Non-2xx" <<<"$out"; then echo "errors in run against port $1:" >&2; echo "$out" >&2; fi
  awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out"
}
median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

echo "machine: $(nproc) cores, $(uname -r); workers=$WORKERS wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $RUNS runs each"
tether_runs=() nginx_runs=()
for i in $(seq 1 "$RUNS"); do
  t=$(measure "$TETHER_PORT"); n=$(measure "$NGINX_PORT")
  tether_runs+=("$t"); nginx_runs+=("$n")
  printf "run %d: tether %8d req/s   nginx %8d req/s\n" "$i" "$t" "$n"
done
tm=$(echo "${tether_runs[@]}" | median)
nm=$(echo "${nginx_runs[@]}" | median)
ratio=$(awk -v a="$tm" -v b="$nm" 'BEGIN {printf "%.2f", a / b}')
printf "median: tether %d req/s, nginx %d req/s, ratio tether/nginx %s\n" "$tm" "$nm" "$ratio"
printf '{"bench":"http_keepalive","workers":%d,"connections":%d,"duration_s":%d,"runs":%d,"tether_rps":%d,"nginx_rps":%d,"ratio":%s}\n' \
  "$WORKERS" "$CONNECTIONS" "$DURATION" "$RUNS" "$tm" "$nm" "$ratio"
