#!/usr/bin/env bash
# Push servers side by side on loopback, same worker count, the load generator pinned to one
# core: tether, nginx + nchan (Debian's libnginx-mod-nchan) and bench/floor (the kernel's own
# limit: one pre-framed write per delivery, no server logic). Prints a table and writes JSON
# lines (one per run, then the medians and ratios) to $OUT.
#
#   bench/compare.sh                                  # everything, 3 runs per figure
#   RUNS=5 SCENARIOS="memory fanout" bench/compare.sh
#   IDLE=10000 FANOUT="1000x2000 10000x200" WORKERS=2 OUT=/tmp/compare.jsonl bench/compare.sh
#
# Scenarios: memory (IDLE WebSocket and IDLE SSE subscribers: server RSS over all its processes,
# before and after, per connection), fanout (subscribers x messages of SIZE bytes: deliveries/s
# when published as fast as the server answers, 16 in flight; p99 latency when published at
# LATENCY_DELIVERIES/subscribers messages per second; lost/duplicated in both),
# echo (tether only: nchan has no echo; 100 connections for 10 s), http (bench/http_keepalive.sh).
# Pushpin is not included: it needs an origin server speaking GRIP for every subscription, which
# is not the same scenario (see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

WORKERS=${WORKERS:-2}
RUNS=${RUNS:-3}
IDLE=${IDLE:-10000}
FANOUT=${FANOUT:-"1000x2000 10000x200"}
SIZE=${SIZE:-64}
LATENCY_DELIVERIES=${LATENCY_DELIVERIES:-200000}  # the latency runs publish at this many deliveries/s
SCENARIOS=${SCENARIOS:-"memory fanout echo http"}
SERVERS=${SERVERS:-"tether nchan"}
OUT=${OUT:-/tmp/tether-compare.jsonl}
PORT=${PORT:-18380}
GEN_CPU=${GEN_CPU:-1}

need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || need+=(libnginx-mod-nchan)
command -v taskset >/dev/null || need+=(util-linux)
command -v pstree >/dev/null || need+=(psmisc)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target tether websocket sse tether-bench floor >/dev/null

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
work=$(mktemp -d /tmp/tether-compare-XXXXXX)
server_pid=""
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
: > "$OUT"

gen() { taskset -c "$GEN_CPU" build/bench/tether-bench "$@"; }

# ---- servers

start_tether() {
  cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
pid_file = "$work/tether.pid"
error_log = "$work/tether-error.log"
modules_dir = "$PWD/build/modules"
[limits]
max_connections = 1000000
[pubsub]
max_message_size = "64KiB"
[[listen]]
address = "127.0.0.1:$PORT"
[[listen]]
address = "127.0.0.2:$PORT"
[[listen]]
address = "127.0.0.3:$PORT"
[[listen]]
address = "127.0.0.4:$PORT"
[modules.websocket]
[modules.sse]
[[route]]
path = "/pub/*"
handler = "publish"
[[route]]
path = "/ws/*"
handler = "websocket"
[route.websocket]
format = "raw"
max_queue = "8MiB"
[[route]]
path = "/sse/*"
handler = "sse"
[route.sse]
max_queue = "8MiB"
[[route]]
path = "/echo/*"
handler = "websocket"
[route.websocket]
format = "raw"
client_messages = "echo"
CONF
  build/tether -c "$work/tether.toml" & server_pid=$!
  wait_port "$PORT"
}

start_nchan() {
  cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile $FD_LIMIT;
pid $work/nginx.pid;
error_log $work/nginx-error.log error;
daemon off;
events { worker_connections $FD_LIMIT; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  nchan_shared_memory_size 512m;
  keepalive_requests 100000000;  # the publisher keeps one connection
  server {
    listen 127.0.0.1:$PORT; listen 127.0.0.2:$PORT; listen 127.0.0.3:$PORT; listen 127.0.0.4:$PORT;
    # Enough buffered messages that a subscriber still being written to never misses one.
    nchan_message_buffer_length 5000;
    nchan_message_timeout 10m;
    location ~ ^/ws/(.+)$  { nchan_subscriber websocket; nchan_channel_id \$1; }
    location ~ ^/sse/(.+)$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
    location ~ ^/pub/(.+)$ { nchan_publisher; nchan_channel_id \$1; }
  }
}
CONF
  nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" & server_pid=$!
  wait_port "$PORT"
}

start_floor() {
  build/bench/floor --port "$PORT" --threads "$WORKERS" > "$work/floor.json" & server_pid=$!
  wait_port "$PORT"
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  sleep 0.3
}

server_rss_kib() { tree_rss_kib "$server_pid"; }

record() { echo "$1" >> "$OUT"; }
json_field() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" <<< "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# ---- scenarios

memory() {
  echo "== idle memory: $IDLE subscribers per protocol, RSS summed over the server's processes"
  for server in $SERVERS; do
    for protocol in ws sse; do
      local values=()
      for run in $(seq "$RUNS"); do
        "start_$server"
        sleep 0.5
        local before after
        before=$(server_rss_kib)
        gen connect --port "$PORT" --path "/$protocol/idle" --protocol "$protocol" --connections "$IDLE" --hold 4 \
          --label "$server" > "$work/connect.json" 2> "$work/connect.err" &
        local gen_pid=$!
        for _ in $(seq 600); do grep -q READY "$work/connect.err" 2>/dev/null && break; sleep 0.1; done
        sleep 1.5
        after=$(server_rss_kib)
        wait "$gen_pid" || true
        stop_server
        local connected per
        connected=$(json_field "$(cat "$work/connect.json")" connected)
        per=$(( (after - before) * 1024 / (connected > 0 ? connected : 1) ))
        record "{\"scenario\":\"memory\",\"server\":\"$server\",\"protocol\":\"$protocol\",\"run\":$run,\"connections\":$IDLE,\"connected\":$connected,\"rss_before_kib\":$before,\"rss_after_kib\":$after,\"bytes_per_connection\":$per}"
        values+=("$per")
      done
      local m
      m=$(printf '%s\n' "${values[@]}" | median)
      eval "mem_${server}_${protocol}=$m"
      printf '  %-7s %-4s bytes/connection: %s (runs: %s)\n' "$server" "$protocol" "$m" "${values[*]}"
    done
  done
  for protocol in ws sse; do
    local t n
    t=$(eval echo "\${mem_tether_${protocol}:-0}")
    n=$(eval echo "\${mem_nchan_${protocol}:-0}")
    record "{\"scenario\":\"memory\",\"summary\":true,\"protocol\":\"$protocol\",\"tether\":$t,\"nchan\":$n,\"ratio_tether_nchan\":\"$(ratio "$t" "$n")\"}"
    printf '  %-4s tether/nchan: %s\n' "$protocol" "$(ratio "$t" "$n")"
  done
}

# One fan-out run: prints the generator's JSON line.
fanout_run() {  # server subscribers messages rate run
  "start_$1"
  local result
  result=$(gen fanout --port "$PORT" --path "/ws/fan$5" --publish-path "/pub/fan$5" --connections "$2" \
    --messages "$3" --size "$SIZE" --rate "$4" --label "$1" 2>/dev/null || true)
  stop_server
  echo "$result"
}

fanout() {
  for shape in $FANOUT; do
    local subs=${shape%x*} messages=${shape#*x}
    local latency_rate=$((LATENCY_DELIVERIES / subs))
    echo "== fan-out: $subs WebSocket subscribers x $messages messages of $SIZE B"
    echo "   throughput: published as fast as answered (16 in flight); latency: at $latency_rate msg/s ($LATENCY_DELIVERIES deliveries/s)"
    for server in floor $SERVERS; do
      local rates=() p99s=() bad=0
      for run in $(seq "$RUNS"); do
        local result
        result=$(fanout_run "$server" "$subs" "$messages" 0 "$run")
        record "{\"scenario\":\"fanout\",\"shape\":\"$shape\",\"server\":\"$server\",\"run\":$run,\"rate\":0,\"result\":$result}"
        rates+=("$(json_field "$result" deliveries_per_s)")
        [ "$server" = floor ] || [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
        result=$(fanout_run "$server" "$subs" "$messages" "$latency_rate" "$run")
        record "{\"scenario\":\"fanout-latency\",\"shape\":\"$shape\",\"server\":\"$server\",\"run\":$run,\"rate\":$latency_rate,\"result\":$result}"
        p99s+=("$(sed -n 's/.*"p99":\([0-9]*\).*/\1/p' <<< "$result")")
        [ "$server" = floor ] || [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
      done
      local rate p99
      rate=$(printf '%s\n' "${rates[@]}" | median)
      p99=$(printf '%s\n' "${p99s[@]}" | median)
      eval "fan_${server}=$rate; p99_${server}=$p99; bad_${server}=$bad"
      local flag=""
      [ "$bad" = 0 ] || flag="  <- INVALID: messages lost or duplicated, its figures do not count"
      printf '  %-7s deliveries/s: %10s  p99 at %s msg/s: %7s us  runs with loss/duplicates: %s  (runs: %s / p99: %s)%s\n' \
        "$server" "$rate" "$latency_rate" "$p99" "$bad" "${rates[*]}" "${p99s[*]}" "$flag"
    done
    record "{\"scenario\":\"fanout\",\"summary\":true,\"shape\":\"$shape\",\"nchan_runs_with_loss\":${bad_nchan:-0},\"tether_runs_with_loss\":${bad_tether:-0},\"floor\":${fan_floor:-0},\"tether\":${fan_tether:-0},\"nchan\":${fan_nchan:-0},\"p99_tether_us\":${p99_tether:-0},\"p99_nchan_us\":${p99_nchan:-0},\"ratio_tether_nchan\":\"$(ratio "${fan_tether:-0}" "${fan_nchan:-0}")\",\"fraction_of_floor\":\"$(ratio "${fan_tether:-0}" "${fan_floor:-0}")\"}"
    printf '  tether/nchan: %s   tether/floor: %s   p99 tether/nchan: %s\n' "$(ratio "${fan_tether:-0}" "${fan_nchan:-0}")" \
      "$(ratio "${fan_tether:-0}" "${fan_floor:-0}")" "$(ratio "${p99_tether:-0}" "${p99_nchan:-0}")"
  done
}

echo_scenario() {
  echo "== echo: 100 WebSocket connections for 10 s (tether only)"
  local values=()
  for run in $(seq "$RUNS"); do
    start_tether
    local result
    result=$(gen echo --port "$PORT" --path /echo/e --connections 100 --duration 10 --label tether 2>/dev/null)
    stop_server
    record "{\"scenario\":\"echo\",\"server\":\"tether\",\"run\":$run,\"result\":$result}"
    values+=("$(json_field "$result" round_trips_per_s)")
  done
  printf '  tether round trips/s: %s (runs: %s)\n' "$(printf '%s\n' "${values[@]}" | median)" "${values[*]}"
}

http() {
  echo "== HTTP keep-alive (bench/http_keepalive.sh, http only)"
  local out
  out=$(SCHEMES=http RUNS="$RUNS" DURATION=5 WORKERS="$WORKERS" bench/http_keepalive.sh 2>&1 | tail -3)
  echo "$out" | sed 's/^/  /'
  record "{\"scenario\":\"http\",\"result\":$(echo "$out" | grep '^{' | tail -1)}"
}

echo "tether compare: $WORKERS workers per server, generator on CPU $GEN_CPU, $RUNS runs per figure ($(nproc) CPUs, $(uname -r))"
for scenario in $SCENARIOS; do
  case $scenario in
    memory) memory ;;
    fanout) fanout ;;
    echo) echo_scenario ;;
    http) http ;;
    *) echo "unknown scenario $scenario" >&2 ;;
  esac
done
echo "JSON lines: $OUT"
