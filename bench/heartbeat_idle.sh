#!/usr/bin/env bash
# Idle CPU of workers holding CONNECTIONS idle WebSocket subscribers: what keeping their
# heartbeats costs when no message flows. Connects them (tether-bench connect, which answers
# pings), lets them settle, then reads utime+stime of every worker from /proc/<pid>/stat before
# and after DURATION seconds. RUNS runs; prints each and the median.
#
#   bench/heartbeat_idle.sh                                  # 100,000 connections, 3 runs of 10 s
#   BUILD=/tmp/base/build bench/heartbeat_idle.sh            # another build's tether and modules
#                                                            # (default: build/, built here)
#   HEARTBEAT_INTERVAL=5s bench/heartbeat_idle.sh            # with pings inside the window
#
# With the default heartbeat_interval (30s) the window, which starts 2 s after the last
# connection is up, sees no ping unless connecting took longer than ~28 s: the figure is the cost
# of the heartbeat bookkeeping alone (a sweep over every connection every 100 ms before the timer
# wheel). Descriptor limits decide the shape, as in bench/scale.sh: a process may hold at most
# `ulimit -Hn` sockets, so the connections are split over WORKERS workers (default: enough to
# stay under the limit; 1 when it allows) and GENERATORS tether-bench processes. The figure that
# compares is the sum over workers, and per 100,000 connections.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-100000}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
PORT=${PORT:-18490}
BUILD=${BUILD:-build}
HEARTBEAT_INTERVAL=${HEARTBEAT_INTERVAL:-30s}
HEARTBEAT_TIMEOUT=${HEARTBEAT_TIMEOUT:-60s}
OUT=${OUT:-/tmp/tether-heartbeat-idle.jsonl}

command -v pstree >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq psmisc; }
ulimit -n "$(ulimit -Hn)"
limit=$(ulimit -n)
per_process=$((limit * 85 / 100))
WORKERS=${WORKERS:-$(( (CONNECTIONS + per_process - 1) / per_process ))}
GENERATORS=${GENERATORS:-$(( (CONNECTIONS + per_process - 1) / per_process ))}
per_generator=$(( (CONNECTIONS + GENERATORS - 1) / GENERATORS ))
per_worker_limit=$(( limit - 64 ))

if [ "$BUILD" = build ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j2 --target tether websocket keepalive tether-bench >/dev/null
fi
build_dir=$(cd "$BUILD" && pwd)
BENCH_TOOL=${BENCH_TOOL:-$build_dir/bench/tether-bench}
tick=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/tether-heartbeat-XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

cat > "$work/tether.toml" <<CONF
[server]
workers = $WORKERS
pid_file = "$work/tether.pid"
error_log = "$work/error.log"
access_log = "off"
modules_dir = "$build_dir/modules"
[limits]
max_connections = $per_worker_limit
[[listen]]
address = "127.0.0.1:$PORT"
backlog = 65535
[modules.websocket]
[modules.keepalive]
heartbeat_interval = "$HEARTBEAT_INTERVAL"
heartbeat_timeout = "$HEARTBEAT_TIMEOUT"
[[route]]
path = "/ws/*"
handler = "websocket"
CONF

# utime+stime in clock ticks of every process in $@, summed.
cpu_ticks() {
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

# The same in ns, from the scheduler's own count (schedstat: time on a CPU) of every thread: a
# finer figure than ticks of 10 ms when the workers use hardly any.
cpu_ns() {
  local p
  for p in "$@"; do cat /proc/"$p"/task/*/schedstat; done | awk '{s += $1} END {printf "%.0f", s}'
}

echo "heartbeat_idle: $CONNECTIONS idle WebSocket subscribers, $WORKERS workers, $GENERATORS generators x $per_generator," \
     "heartbeat $HEARTBEAT_INTERVAL/$HEARTBEAT_TIMEOUT, $DURATION s windows, build $BUILD (fd limit $limit)"
results=() results_ns=()
for run in $(seq "$RUNS"); do
  "$build_dir/tether" -c "$work/tether.toml" & server=$!
  pids=("$server")
  wait_port "$PORT"
  sleep 0.5
  workers=$(pgrep -P "$server" | tr '\n' ' ')
  start=$(date +%s.%N)
  for g in $(seq 0 $((GENERATORS - 1))); do
    "$BENCH_TOOL" connect --port "$PORT" --path /ws/idle --connections "$per_generator" \
      --sources 4 --source-base $((1 + 4 * g)) --concurrency 2000 --hold 3600 \
      > "$work/gen$g.json" 2> "$work/gen$g.err" &
    pids+=($!)
  done
  for g in $(seq 0 $((GENERATORS - 1))); do
    for _ in $(seq 1200); do grep -q READY "$work/gen$g.err" 2>/dev/null && break; sleep 0.1; done
  done
  connected=$(cat "$work"/gen*.err | sed -n 's/READY \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
  connect_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  sleep 2
  # shellcheck disable=SC2086
  before=$(cpu_ticks $workers) before_ns=$(cpu_ns $workers)
  sleep "$DURATION"
  # shellcheck disable=SC2086
  after=$(cpu_ticks $workers) after_ns=$(cpu_ns $workers)
  used=$((after - before)) used_ns=$((after_ns - before_ns))
  percent=$(awk -v t="$used" -v hz="$tick" -v d="$DURATION" 'BEGIN {printf "%.2f", t / hz / d * 100}')
  per_100k=$(awk -v p="$percent" -v c="$connected" 'BEGIN {printf "%.2f", (c > 0 ? p * 100000 / c : 0)}')
  percent_ns=$(awk -v t="$used_ns" -v d="$DURATION" 'BEGIN {printf "%.3f", t / 1e9 / d * 100}')
  per_100k_ns=$(awk -v p="$percent_ns" -v c="$connected" 'BEGIN {printf "%.3f", (c > 0 ? p * 100000 / c : 0)}')
  echo "  run $run: $connected connected in ${connect_s}s; in ${DURATION}s the workers used $used ticks = $percent% of a core" \
       "($per_100k% per 100,000 connections); schedstat: $percent_ns% ($per_100k_ns% per 100,000)"
  echo "{\"scenario\":\"heartbeat_idle\",\"build\":\"$BUILD\",\"run\":$run,\"connections\":$connected,\"workers\":$WORKERS,\"heartbeat\":\"$HEARTBEAT_INTERVAL\",\"seconds\":$DURATION,\"cpu_ticks\":$used,\"cpu_percent\":$percent,\"cpu_percent_per_100k\":$per_100k,\"schedstat_ns\":$used_ns,\"schedstat_percent_per_100k\":$per_100k_ns}" >> "$OUT"
  results+=("$per_100k")
  results_ns+=("$per_100k_ns")
  stop_all
  sleep 1
done
median=$(printf '%s\n' "${results[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
median_ns=$(printf '%s\n' "${results_ns[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
echo "  median: $median% of a core per 100,000 idle connections, utime+stime (runs: ${results[*]})"
echo "          $median_ns% by schedstat (runs: ${results_ns[*]})"
echo "JSON lines: $OUT"
