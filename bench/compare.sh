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
# echo (tether only: nchan has no echo; 100 connections for 10 s), http (bench/http_keepalive.sh),
# window (not in the default set: WINDOW_SHAPE subscribers x messages, default 10000x200,
# published as fast as answered with WINDOW_IN_FLIGHT (4) in flight: deliveries/s, p50 and p99
# latency, and the server's CPU per delivery, all in the same runs),
# deflate (not in the default set: DEFLATE_SHAPE subscribers x messages of DEFLATE_SIZE bytes,
# default 1000x1000 of 1 KiB, compressible text, published as fast as answered; subscribers that
# offer permessage-deflate and, for reference, ones that do not; tether with its default
# compression = "on", nchan with nchan_deflate_message_for_websocket on: deliveries/s, bytes read
# off the wire per delivery and the share of messages that came compressed),
# redis (not in the default set: tether with [pubsub] broker = "redis" against nginx + nchan with
# nchan_redis_pass, an upstream with nchan_redis_server, which nchan prefers to nchan_redis_url;
# both on one redis-server that this script starts on a free loopback port; see redis_scenario
# below). Scenarios may also be given as arguments: bench/compare.sh redis.
# BUILD is the build directory (default build; bench/compare.sh configures it RelWithDebInfo).
# Pushpin is not included: it needs an origin server speaking GRIP for every subscription, which
# is not the same scenario (see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
(($#)) && SCENARIOS="$*"

WORKERS=${WORKERS:-2}
RUNS=${RUNS:-3}
IDLE=${IDLE:-10000}
FANOUT=${FANOUT:-"1000x2000 10000x200"}
SIZE=${SIZE:-64}
WINDOW_SHAPE=${WINDOW_SHAPE:-10000x200}
DEFLATE_SHAPE=${DEFLATE_SHAPE:-1000x1000}
DEFLATE_SIZE=${DEFLATE_SIZE:-1024}
WINDOW_IN_FLIGHT=${WINDOW_IN_FLIGHT:-4}
LATENCY_DELIVERIES=${LATENCY_DELIVERIES:-200000}  # the latency runs publish at this many deliveries/s
SCENARIOS=${SCENARIOS:-"memory fanout echo http"}
SERVERS=${SERVERS:-"tether nchan"}
OUT=${OUT:-/tmp/tether-compare.jsonl}
PORT=${PORT:-18380}
GEN_CPU=${GEN_CPU:-1}
BUILD=${BUILD:-build}
# The redis scenario: publishes (REDIS_PUBLISHES over REDIS_PUBLISHERS connections, one channel
# each, REDIS_WINDOW in flight on each), fan-out shape, idle subscribers, low-load publishes.
REDIS_PUBLISHES=${REDIS_PUBLISHES:-100000}
REDIS_PUBLISHERS=${REDIS_PUBLISHERS:-64}
REDIS_WINDOW=${REDIS_WINDOW:-1}
REDIS_FANOUT=${REDIS_FANOUT:-1000x2000}
REDIS_IDLE=${REDIS_IDLE:-10000}
REDIS_LATENCY_MESSAGES=${REDIS_LATENCY_MESSAGES:-500}  # published at 100/s, one at a time
REDIS_PARTS=${REDIS_PARTS:-connections publishes fanout memory publish_latency}  # a subset, to work on one figure
REDIS_SERVERS=${REDIS_SERVERS:-tether tether_redis nchan_redis}  # the servers of the publishes and fan-out parts

need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || need+=(libnginx-mod-nchan)
command -v taskset >/dev/null || need+=(util-linux)
command -v pstree >/dev/null || need+=(psmisc)
if [[ " $SCENARIOS " == *" redis "* ]]; then
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-cli >/dev/null || need+=(redis-tools)
fi
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target tether websocket sse tether-bench floor >/dev/null

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
work=$(mktemp -d /tmp/tether-compare-XXXXXX)
server_pid=""
redis_pid=""
cleanup() {
  stop_server
  stop_redis
  rm -rf "$work"
}
trap cleanup EXIT
: > "$OUT"

gen() { taskset -c "$GEN_CPU" "$BUILD"/bench/tether-bench "$@"; }

# ---- servers

start_tether() {
  cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
pid_file = "$work/tether.pid"
error_log = "$work/tether-error.log"
modules_dir = "$PWD/$BUILD/modules"
[limits]
max_connections = 1000000
[pubsub]
max_message_size = "64KiB"
${TETHER_PUBSUB:-}
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
  "$BUILD"/tether -c "$work/tether.toml" & server_pid=$!
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
  ${NCHAN_HTTP:-}
  keepalive_requests 100000000;  # the publisher keeps one connection
  server {
    listen 127.0.0.1:$PORT; listen 127.0.0.2:$PORT; listen 127.0.0.3:$PORT; listen 127.0.0.4:$PORT;
    # Enough buffered messages that a subscriber still being written to never misses one.
    nchan_message_buffer_length 5000;
    nchan_message_timeout 10m;
    location ~ ^/ws/(.+)$  { nchan_subscriber websocket; nchan_channel_id \$1; ${NCHAN_LOCATION:-} }
    location ~ ^/sse/(.+)$ { nchan_subscriber eventsource; nchan_channel_id \$1; ${NCHAN_LOCATION:-} }
    location ~ ^/pub/(.+)$ { nchan_publisher; nchan_channel_id \$1; ${NCHAN_LOCATION:-} }
  }
}
CONF
  nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" & server_pid=$!
  wait_port "$PORT"
}

start_floor() {
  "$BUILD"/bench/floor --port "$PORT" --threads "$WORKERS" > "$work/floor.json" & server_pid=$!
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# ---- scenarios

# Idle memory per connection, median over RUNS: sets $figure and $figure_runs.
idle_memory() {  # scenario server protocol connections path
  local values=()
  for run in $(seq "$RUNS"); do
    "start_$2"
    sleep 0.5
    local before after
    before=$(server_rss_kib)
    gen connect --port "$PORT" --path "$5" --protocol "$3" --connections "$4" --hold 4 \
      --label "$2" > "$work/connect.json" 2> "$work/connect.err" &
    local gen_pid=$!
    for _ in $(seq 600); do grep -q READY "$work/connect.err" 2>/dev/null && break; sleep 0.1; done
    sleep 1.5
    after=$(server_rss_kib)
    wait "$gen_pid" || true
    stop_server
    local connected per
    connected=$(json_field "$(cat "$work/connect.json")" connected)
    per=$(( (after - before) * 1024 / (connected > 0 ? connected : 1) ))
    record "{\"scenario\":\"$1\",\"server\":\"$2\",\"protocol\":\"$3\",\"run\":$run,\"connections\":$4,\"connected\":$connected,\"rss_before_kib\":$before,\"rss_after_kib\":$after,\"bytes_per_connection\":$per}"
    values+=("$per")
  done
  figure=$(printf '%s\n' "${values[@]}" | median)
  figure_runs="${values[*]}"
}

memory() {
  echo "== idle memory: $IDLE subscribers per protocol, RSS summed over the server's processes"
  for server in $SERVERS; do
    for protocol in ws sse; do
      idle_memory memory "$server" "$protocol" "$IDLE" "/$protocol/idle"
      eval "mem_${server}_${protocol}=$figure"
      printf '  %-7s %-4s bytes/connection: %s (runs: %s)\n' "$server" "$protocol" "$figure" "$figure_runs"
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

# Fan-out with a few messages in flight: where latency shows how a server orders its writes.
window_scenario() {
  local subs=${WINDOW_SHAPE%x*} messages=${WINDOW_SHAPE#*x}
  echo "== window: $subs WebSocket subscribers x $messages messages of $SIZE B, $WINDOW_IN_FLIGHT in flight"
  for server in $SERVERS; do
    local rates=() p50s=() p99s=() cpus=() bad=0
    for run in $(seq "$RUNS"); do
      "start_$server"
      local result before after
      before=$(tree_cpu_ms "$server_pid")
      result=$(gen fanout --port "$PORT" --path "/ws/win$run" --publish-path "/pub/win$run" --connections "$subs" \
        --messages "$messages" --size "$SIZE" --window "$WINDOW_IN_FLIGHT" --label "$server" 2>/dev/null || true)
      after=$(tree_cpu_ms "$server_pid")
      stop_server
      record "{\"scenario\":\"window\",\"server\":\"$server\",\"run\":$run,\"server_cpu_ms\":$((after - before)),\"result\":$result}"
      rates+=("$(json_field "$result" deliveries_per_s)")
      p50s+=("$(sed -n 's/.*"p50":\([0-9]*\).*/\1/p' <<< "$result")")
      p99s+=("$(sed -n 's/.*"p99":\([0-9]*\).*/\1/p' <<< "$result")")
      local delivered
      delivered=$(json_field "$result" delivered)
      cpus+=("$(awk -v ms=$((after - before)) -v n="${delivered:-0}" 'BEGIN { if (n > 0) printf "%.2f", ms * 1000 / n; else print 0 }')")
      [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
    done
    local rate p50 p99 cpu
    rate=$(printf '%s\n' "${rates[@]}" | median)
    p50=$(printf '%s\n' "${p50s[@]}" | median)
    p99=$(printf '%s\n' "${p99s[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    eval "win_${server}=$rate; winp50_${server}=$p50; winp99_${server}=$p99; wincpu_${server}=$cpu"
    local flag=""
    [ "$bad" = 0 ] || flag="  <- INVALID: messages lost or duplicated"
    printf '  %-7s deliveries/s: %9s  p50: %7s us  p99: %7s us  server CPU per delivery: %5s us  (runs: %s / p50: %s / p99: %s / cpu: %s)%s\n' \
      "$server" "$rate" "$p50" "$p99" "$cpu" "${rates[*]}" "${p50s[*]}" "${p99s[*]}" "${cpus[*]}" "$flag"
  done
  record "{\"scenario\":\"window\",\"summary\":true,\"shape\":\"$WINDOW_SHAPE\",\"in_flight\":$WINDOW_IN_FLIGHT,\"tether\":${win_tether:-0},\"nchan\":${win_nchan:-0},\"p50_tether_us\":${winp50_tether:-0},\"p50_nchan_us\":${winp50_nchan:-0},\"p99_tether_us\":${winp99_tether:-0},\"p99_nchan_us\":${winp99_nchan:-0},\"cpu_us_per_delivery_tether\":${wincpu_tether:-0},\"cpu_us_per_delivery_nchan\":${wincpu_nchan:-0}}"
  printf '  tether/nchan: deliveries/s %s   p50 %s   p99 %s   CPU per delivery %s\n' "$(ratio "${win_tether:-0}" "${win_nchan:-0}")" \
    "$(ratio "${winp50_tether:-0}" "${winp50_nchan:-0}")" "$(ratio "${winp99_tether:-0}" "${winp99_nchan:-0}")" \
    "$(ratio "${wincpu_tether:-0}" "${wincpu_nchan:-0}")"
}

# Compressed fan-out: each server compresses a message once for all its deflate subscribers.
deflate_scenario() {
  local subs=${DEFLATE_SHAPE%x*} messages=${DEFLATE_SHAPE#*x}
  echo "== deflate: $subs WebSocket subscribers x $messages messages of $DEFLATE_SIZE B, as fast as answered"
  for server in $SERVERS; do
    for offer in 1 0; do
      local rates=() wires=() shares=() bad=0
      for run in $(seq "$RUNS"); do
        NCHAN_LOCATION="nchan_deflate_message_for_websocket on;" "start_$server"
        local result
        result=$(gen fanout --port "$PORT" --path "/ws/z$run" --publish-path "/pub/z$run" --connections "$subs" \
          --messages "$messages" --size "$DEFLATE_SIZE" --deflate "$offer" --label "$server" 2>/dev/null || true)
        stop_server
        record "{\"scenario\":\"deflate\",\"server\":\"$server\",\"offer\":$offer,\"run\":$run,\"result\":$result}"
        local delivered wire compressed
        delivered=$(json_field "$result" delivered) wire=$(json_field "$result" wire_bytes) compressed=$(json_field "$result" compressed)
        rates+=("$(json_field "$result" deliveries_per_s)")
        wires+=("$(awk -v w="${wire:-0}" -v n="${delivered:-0}" 'BEGIN { if (n > 0) printf "%.0f", w / n; else print 0 }')")
        shares+=("$(awk -v c="${compressed:-0}" -v n="${delivered:-0}" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print 0 }')")
        [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
      done
      local rate wire share
      rate=$(printf '%s\n' "${rates[@]}" | median)
      wire=$(printf '%s\n' "${wires[@]}" | median)
      share=$(printf '%s\n' "${shares[@]}" | median)
      eval "zrate_${server}_${offer}=$rate; zwire_${server}_${offer}=$wire"
      local flag=""
      [ "$bad" = 0 ] || flag="  <- INVALID: messages lost or duplicated"
      printf '  %-7s %-11s deliveries/s: %9s  wire bytes per delivery: %6s  compressed: %s  (runs: %s / bytes: %s)%s\n' \
        "$server" "$([ "$offer" = 1 ] && echo deflate || echo plain)" "$rate" "$wire" "$share" "${rates[*]}" "${wires[*]}" "$flag"
    done
  done
  record "{\"scenario\":\"deflate\",\"summary\":true,\"shape\":\"$DEFLATE_SHAPE\",\"size\":$DEFLATE_SIZE,\"tether\":${zrate_tether_1:-0},\"nchan\":${zrate_nchan_1:-0},\"wire_tether\":${zwire_tether_1:-0},\"wire_nchan\":${zwire_nchan_1:-0},\"tether_plain\":${zrate_tether_0:-0},\"nchan_plain\":${zrate_nchan_0:-0}}"
  printf '  with deflate, tether/nchan: deliveries/s %s   wire bytes per delivery %s\n' \
    "$(ratio "${zrate_tether_1:-0}" "${zrate_nchan_1:-0}")" "$(ratio "${zwire_tether_1:-0}" "${zwire_nchan_1:-0}")"
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

# ---- redis: both servers on one redis-server (no persistence), emptied before each server start

start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" --daemonize no & redis_pid=$!
  wait_port "$REDIS_PORT"
}

stop_redis() {
  [ -n "$redis_pid" ] || return 0
  kill -TERM "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
}

redis_cli() { redis-cli -p "$REDIS_PORT" "$@"; }
# Redis's CPU time so far (user + system, all its threads), in microseconds.
redis_cpu_us() { redis_cli INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.0f", s * 1e6}'; }
# The clients connected to Redis, not counting the redis-cli that asks; and of them, those in
# subscriber mode.
redis_clients() { redis_cli CLIENT LIST | grep -vc 'cmd=client' || true; }
redis_subscribers() { redis_cli CLIENT LIST | grep -v 'cmd=client' | grep -c 'flags=P' || true; }

start_tether_redis() {
  redis_cli FLUSHALL > /dev/null
  TETHER_PUBSUB="broker = \"redis\"
[pubsub.redis]
addresses = [\"127.0.0.1:$REDIS_PORT\"]" start_tether
}

start_nchan_redis() {
  redis_cli FLUSHALL > /dev/null
  # nchan 1.3.6 honours nchan_redis_pass only in the location itself (at http or server level
  # it silently keeps the local memory store: no key in Redis).
  NCHAN_HTTP="upstream redis_bench { nchan_redis_server \"redis://127.0.0.1:$REDIS_PORT\"; }" \
    NCHAN_LOCATION="nchan_redis_pass redis_bench;" start_nchan
}

# Redis's microseconds of CPU per message: cpu_before cpu_after messages
per_message() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print 0 }'; }

redis_connections() {
  echo "-- connections to Redis (after start; with 10 WebSocket subscribers on 2 channels)"
  for server in tether_redis nchan_redis; do
    "start_$server"
    sleep 1
    local idle
    idle=$(redis_clients)
    local pids=()
    for channel in c1 c2; do
      gen connect --port "$PORT" --path "/ws/$channel" --connections 5 --hold 3 --label "$server" \
        > /dev/null 2> "$work/connect-$channel.err" & pids+=($!)
    done
    for _ in $(seq 100); do [ "$(grep -l READY "$work"/connect-c?.err 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.1; done
    sleep 1
    local busy subscribed
    busy=$(redis_clients)
    subscribed=$(redis_subscribers)
    wait "${pids[@]}" || true
    stop_server
    record "{\"scenario\":\"redis-connections\",\"server\":\"$server\",\"workers\":$WORKERS,\"idle\":$idle,\"with_subscribers\":$busy,\"subscriber_mode\":$subscribed}"
    printf '  %-12s connections: %s idle, %s with subscribers (%s of them in subscriber mode)\n' "$server" "$idle" "$busy" "$subscribed"
  done
}

redis_publishes() {
  echo "-- publishes: $REDIS_PUBLISHES over $REDIS_PUBLISHERS connections (one channel each, $REDIS_WINDOW in flight on each), $SIZE B"
  echo "   (tether: the local broker, a control; a key in Redis is required of the others only)"
  for server in $REDIS_SERVERS; do
    local rates=() cpus=() p99s=() bad=0
    for run in $(seq "$RUNS"); do
      "start_$server"
      local before after result answered keys
      before=$(redis_cpu_us)
      result=$(gen publish --port "$PORT" --publish-path "/pub/p$run" --publishers "$REDIS_PUBLISHERS" --window "$REDIS_WINDOW" \
        --messages "$REDIS_PUBLISHES" --size "$SIZE" --timeout 60 --label "$server" 2>/dev/null || true)
      after=$(redis_cpu_us)
      keys=$(redis_cli DBSIZE)  # 0: the server did not store through Redis (a configuration slip)
      stop_server
      answered=$(json_field "$result" answered)
      record "{\"scenario\":\"redis-publish\",\"server\":\"$server\",\"run\":$run,\"redis_cpu_us\":$((after - before)),\"redis_keys\":$keys,\"result\":$result}"
      [ "$answered" = "$REDIS_PUBLISHES" ] && [ "$(json_field "$result" errors)" = 0 ] &&
        { [ "$server" = tether ] || [ "$keys" -gt 0 ]; } || bad=$((bad + 1))
      rates+=("$(json_field "$result" publishes_per_s)")
      cpus+=("$(per_message "$before" "$after" "$answered")")
      p99s+=("$(sed -n 's/.*"p99":\([0-9]*\).*/\1/p' <<< "$result")")
    done
    local rate cpu p99
    rate=$(printf '%s\n' "${rates[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    p99=$(printf '%s\n' "${p99s[@]}" | median)
    eval "rpub_${server}=$rate; rpubcpu_${server}=$cpu"
    local flag=""
    [ "$bad" = 0 ] || flag="  <- INVALID: $bad runs with errors, unanswered publishes or no key in Redis"
    printf '  %-12s publishes/s: %8s  Redis CPU/publish: %5s us  answer p99: %6s us  (runs: %s / %s us / %s us)%s\n' \
      "$server" "$rate" "$cpu" "$p99" "${rates[*]}" "${cpus[*]}" "${p99s[*]}" "$flag"
  done
}

redis_fanout() {
  local subs=${REDIS_FANOUT%x*} messages=${REDIS_FANOUT#*x}
  local latency_rate=$((LATENCY_DELIVERIES / subs))
  echo "-- fan-out: $subs WebSocket subscribers on one channel x $messages messages of $SIZE B"
  echo "   throughput: published as fast as answered (16 in flight); latency: at $latency_rate msg/s; tether: the local broker, a control"
  for server in $REDIS_SERVERS; do
    local rates=() p99s=() cpus=() bad=0
    for run in $(seq "$RUNS"); do
      "start_$server"
      local before after result
      before=$(redis_cpu_us)
      result=$(gen fanout --port "$PORT" --path "/ws/fan$run" --publish-path "/pub/fan$run" --connections "$subs" \
        --messages "$messages" --size "$SIZE" --rate 0 --label "$server" 2>/dev/null || true)
      after=$(redis_cpu_us)
      stop_server
      record "{\"scenario\":\"redis-fanout\",\"server\":\"$server\",\"run\":$run,\"rate\":0,\"redis_cpu_us\":$((after - before)),\"result\":$result}"
      rates+=("$(json_field "$result" deliveries_per_s)")
      cpus+=("$(per_message "$before" "$after" "$messages")")
      [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
      result=$(fanout_run "$server" "$subs" "$messages" "$latency_rate" "$run")
      record "{\"scenario\":\"redis-fanout-latency\",\"server\":\"$server\",\"run\":$run,\"rate\":$latency_rate,\"result\":$result}"
      p99s+=("$(sed -n 's/.*"p99":\([0-9]*\).*/\1/p' <<< "$result")")
      [ "$(json_field "$result" lost)" = 0 -a "$(json_field "$result" duplicated)" = 0 ] || bad=$((bad + 1))
    done
    local rate p99 cpu
    rate=$(printf '%s\n' "${rates[@]}" | median)
    p99=$(printf '%s\n' "${p99s[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    eval "rfan_${server}=$rate; rp99_${server}=$p99; rfancpu_${server}=$cpu"
    local flag=""
    [ "$bad" = 0 ] || flag="  <- INVALID: $bad runs lost or duplicated messages"
    printf '  %-12s deliveries/s: %9s  p99 at %s msg/s: %7s us  Redis CPU/message: %6s us  (runs: %s / p99: %s / %s us)%s\n' \
      "$server" "$rate" "$latency_rate" "$p99" "$cpu" "${rates[*]}" "${p99s[*]}" "${cpus[*]}" "$flag"
  done
}

redis_memory() {
  echo "-- idle memory: $REDIS_IDLE WebSocket subscribers on one channel, RSS summed over the server's processes"
  for server in tether_redis nchan_redis; do
    idle_memory redis-memory "$server" ws "$REDIS_IDLE" /ws/idle
    eval "rmem_${server}=$figure"
    printf '  %-12s bytes/subscriber: %s (runs: %s)\n' "$server" "$figure" "$figure_runs"
  done
}

# POST /pub round trips one at a time at 100/s, no subscribers: the broker's own latency.
redis_publish_latency() {
  echo "-- publish latency: $REDIS_LATENCY_MESSAGES publishes at 100/s, one in flight, no subscribers"
  for server in tether tether_redis nchan nchan_redis; do
    local p50s=() p99s=()
    for run in $(seq "$RUNS"); do
      "start_$server"
      local result
      result=$(gen publish --port "$PORT" --publish-path "/pub/lat$run" --rate 100 --messages "$REDIS_LATENCY_MESSAGES" \
        --size "$SIZE" --label "$server" 2>/dev/null || true)
      stop_server
      record "{\"scenario\":\"redis-publish-latency\",\"server\":\"$server\",\"run\":$run,\"result\":$result}"
      p50s+=("$(sed -n 's/.*"p50":\([0-9]*\).*/\1/p' <<< "$result")")
      p99s+=("$(sed -n 's/.*"p99":\([0-9]*\).*/\1/p' <<< "$result")")
    done
    printf '  %-12s p50: %5s us  p99: %5s us  (runs: %s / %s us)\n' "$server" "$(printf '%s\n' "${p50s[@]}" | median)" \
      "$(printf '%s\n' "${p99s[@]}" | median)" "${p50s[*]}" "${p99s[*]}"
  done
}

# Connections each server opens to Redis; publishes/s over many connections and Redis's CPU per
# publish; fan-out deliveries/s, p99 and Redis's CPU per message; idle memory per subscriber; the
# latency of one publish at a time, with and without Redis. Ratios tether/nchan at the end.
redis_scenario() {
  start_redis
  echo "== redis: tether (broker = \"redis\") and nginx + nchan (nchan_redis_pass) on one redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') at 127.0.0.1:$REDIS_PORT, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  local part
  for part in $REDIS_PARTS; do "redis_$part"; done
  stop_redis
  record "{\"scenario\":\"redis\",\"summary\":true,\"publishes_per_s\":{\"tether\":${rpub_tether_redis:-0},\"nchan\":${rpub_nchan_redis:-0}},\"redis_cpu_us_per_publish\":{\"tether\":${rpubcpu_tether_redis:-0},\"nchan\":${rpubcpu_nchan_redis:-0}},\"deliveries_per_s\":{\"tether\":${rfan_tether_redis:-0},\"nchan\":${rfan_nchan_redis:-0}},\"p99_us\":{\"tether\":${rp99_tether_redis:-0},\"nchan\":${rp99_nchan_redis:-0}},\"bytes_per_subscriber\":{\"tether\":${rmem_tether_redis:-0},\"nchan\":${rmem_nchan_redis:-0}}}"
  printf '  tether/nchan: publishes/s %s  Redis CPU/publish %s  deliveries/s %s  p99 %s  bytes/subscriber %s\n' \
    "$(ratio "${rpub_tether_redis:-0}" "${rpub_nchan_redis:-0}")" "$(ratio "${rpubcpu_tether_redis:-0}" "${rpubcpu_nchan_redis:-0}")" \
    "$(ratio "${rfan_tether_redis:-0}" "${rfan_nchan_redis:-0}")" "$(ratio "${rp99_tether_redis:-0}" "${rp99_nchan_redis:-0}")" \
    "$(ratio "${rmem_tether_redis:-0}" "${rmem_nchan_redis:-0}")"
  printf '  tether with Redis / with the local broker: publishes/s %s  deliveries/s %s  p99 %s\n' \
    "$(ratio "${rpub_tether_redis:-0}" "${rpub_tether:-0}")" "$(ratio "${rfan_tether_redis:-0}" "${rfan_tether:-0}")" \
    "$(ratio "${rp99_tether_redis:-0}" "${rp99_tether:-0}")"
}

echo "tether compare: $WORKERS workers per server, generator on CPU $GEN_CPU, $RUNS runs per figure ($(nproc) CPUs, $(uname -r))"
for scenario in $SCENARIOS; do
  case $scenario in
    memory) memory ;;
    fanout) fanout ;;
    window) window_scenario ;;
    deflate) deflate_scenario ;;
    echo) echo_scenario ;;
    http) http ;;
    redis) redis_scenario ;;
    *) echo "unknown scenario $scenario" >&2 ;;
  esac
done
echo "JSON lines: $OUT"
