#!/usr/bin/env bash
# HTTP and HTTPS keep-alive throughput: tether's built-in `respond` route against Debian's nginx
# `return 200`, same body, same worker count, same certificate, same wrk load, on loopback.
# Runs the two servers alternately RUNS times per scheme and prints every figure, the medians
# and the ratio tether/nginx.
#
#   bench/http_keepalive.sh                 # defaults: 2 workers, 5 runs of 10 s, 64 connections
#   WORKERS=1 RUNS=7 DURATION=5 CONNECTIONS=128 SCHEMES="https" bench/http_keepalive.sh
#
# Each scheme's results end with one JSON line, for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-2}
RUNS=${RUNS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SCHEMES=${SCHEMES:-"http https"}
TETHER_PORT=${TETHER_PORT:-18180}
NGINX_PORT=${NGINX_PORT:-18181}
TETHER_TLS_PORT=${TETHER_TLS_PORT:-18182}
NGINX_TLS_PORT=${NGINX_TLS_PORT:-18183}

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

# One self-signed certificate (P-256) for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=localhost" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
pid_file = "$work/tether.pid"
error_log = "$work/tether-error.log"
access_log = "off"
[[listen]]
address = "127.0.0.1:$TETHER_PORT"
[[listen]]
address = "127.0.0.1:$TETHER_TLS_PORT"
tls = { cert = "$work/cert.pem", key = "$work/key.pem" }
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
    listen 127.0.0.1:$NGINX_TLS_PORT ssl reuseport;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = / { default_type text/plain; return 200 "tether\n"; }
  }
}
CONF

./build/tether -c "$work/tether.toml" & pids+=($!)
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" & pids+=($!)
sleep 1
for port in "$TETHER_PORT" "$NGINX_PORT"; do curl -fsS "http://127.0.0.1:$port/" >/dev/null; done
for port in "$TETHER_TLS_PORT" "$NGINX_TLS_PORT"; do curl -fsSk "https://127.0.0.1:$port/" >/dev/null; done

# Requests/s of one wrk run (URL $1), with a check that every answer was a 200 without socket errors.
measure() {
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$1")
  if grep -qE "Socket errors|Non-2xx" <<<"$out"; then echo "errors in run against $1:" >&2; echo "$out" >&2; fi
  awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out"
}
median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

echo "machine: $(nproc) cores, $(uname -r); workers=$WORKERS wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $RUNS runs each"
for scheme in $SCHEMES; do
  if [ "$scheme" = https ]; then tp=$TETHER_TLS_PORT np=$NGINX_TLS_PORT; else tp=$TETHER_PORT np=$NGINX_PORT; fi
  tether_runs=() nginx_runs=()
  for i in $(seq 1 "$RUNS"); do
    t=$(measure "$scheme://127.0.0.1:$tp/"); n=$(measure "$scheme://127.0.0.1:$np/")
    tether_runs+=("$t"); nginx_runs+=("$n")
    printf "%-5s run %d: tether %8d req/s   nginx %8d req/s\n" "$scheme" "$i" "$t" "$n"
  done
  tm=$(echo "${tether_runs[@]}" | median)
  nm=$(echo "${nginx_runs[@]}" | median)
  ratio=$(awk -v a="$tm" -v b="$nm" 'BEGIN {printf "%.2f", a / b}')
  printf "%-5s median: tether %d req/s, nginx %d req/s, ratio tether/nginx %s\n" "$scheme" "$tm" "$nm" "$ratio"
  printf '{"bench":"%s_keepalive","workers":%d,"connections":%d,"duration_s":%d,"runs":%d,"tether_rps":%d,"nginx_rps":%d,"ratio":%s}\n' \
    "$scheme" "$WORKERS" "$CONNECTIONS" "$DURATION" "$RUNS" "$tm" "$nm" "$ratio"
done
