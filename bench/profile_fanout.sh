#!/usr/bin/env bash
# Where tether's CPU goes when it feeds many subscribers: the window scenario of compare.sh
# (SUBSCRIBERS WebSocket subscribers, MESSAGES messages of SIZE B, WINDOW in flight), with
#   - the server's CPU (utime+stime of every process) per delivery, and the master's share;
#   - system calls per delivery by the workers and the master (perf stat, the raw_syscalls
#     tracepoint), and context switches;
#   - a call-graph profile of the workers (perf record -g), its top symbols printed.
# Hardware counters (cache misses) are not available in the containers we run in; where perf can
# read them, PERF_EVENTS="cache-misses,instructions" adds them.
#
#   bench/profile_fanout.sh                         # 10,000 x 200, window 4, 2 workers
#   SUBSCRIBERS=1000 MESSAGES=2000 bench/profile_fanout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SUBSCRIBERS=${SUBSCRIBERS:-10000}
MESSAGES=${MESSAGES:-200}
SIZE=${SIZE:-64}
WINDOW=${WINDOW:-4}
WORKERS=${WORKERS:-2}
BUILD=${BUILD:-build}
PERF_EVENTS=${PERF_EVENTS:-}
TOP=${TOP:-25}

command -v perf >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq linux-perf; }
bench_build "$BUILD" tether websocket tether-bench
bench_workdir profile
port=$(free_port)
{
  server_toml "$BUILD" "$port" 1000000
  fanout_routes_toml
  printf 'format = "raw"\nmax_queue = "8MiB"\n'
} > "$work/tether.toml"
"$BUILD"/tether -c "$work/tether.toml" & server=$!
wait_port "$port"
sleep 0.5
workers=$(pgrep -P "$server" | paste -sd, -)

# The subscribers connect first (not profiled); the profile starts at READY.
"$BUILD"/bench/tether-bench fanout --port "$port" --path /ws/p --publish-path /pub/p --connections "$SUBSCRIBERS" \
  --messages "$MESSAGES" --size "$SIZE" --window "$WINDOW" --sources 8 > "$work/result.json" 2> "$work/bench.err" &
bench=$!
for _ in $(seq 1200); do grep -q READY "$work/bench.err" 2>/dev/null && break; sleep 0.05; done
cpu_before=$(tree_cpu_ms "$server")
master_before=$(awk '{print $14 + $15}' "/proc/$server/stat")
events="raw_syscalls:sys_enter,context-switches${PERF_EVENTS:+,$PERF_EVENTS}"
perf stat -e "$events" -p "$workers" -o "$work/stat.workers" -- sleep 600 2>/dev/null & stat_workers=$!
perf stat -e "$events" -p "$server" -o "$work/stat.master" -- sleep 600 2>/dev/null & stat_master=$!
perf record -g -F 999 -p "$workers" -o "$work/perf.data" -- sleep 600 2>/dev/null & record=$!
wait "$bench" || true
cpu_after=$(tree_cpu_ms "$server")
master_after=$(awk '{print $14 + $15}' "/proc/$server/stat")
# Each perf stops when its command (the sleep) ends; a script's background jobs ignore SIGINT.
for p in "$stat_workers" "$stat_master" "$record"; do pkill -TERM -P "$p" sleep 2>/dev/null || true; done
wait "$stat_workers" "$stat_master" "$record" 2>/dev/null || true

result=$(cat "$work/result.json")
delivered=$(sed -n 's/.*"delivered":\([0-9]*\).*/\1/p' <<< "$result")
count() { awk -v e="$2" '$2 == e {gsub(",", "", $1); print $1}' "$1"; }
hz=$(getconf CLK_TCK)
echo "profile: $SUBSCRIBERS subscribers x $MESSAGES messages of $SIZE B, window $WINDOW, $WORKERS workers"
echo "  result: $result"
awk -v d="$delivered" -v ms=$((cpu_after - cpu_before)) -v m=$(( (master_after - master_before) * 1000 / hz )) \
  -v sw="$(count "$work/stat.workers" raw_syscalls:sys_enter)" -v sm="$(count "$work/stat.master" raw_syscalls:sys_enter)" \
  -v cw="$(count "$work/stat.workers" context-switches)" -v cm="$(count "$work/stat.master" context-switches)" -v subs="$SUBSCRIBERS" 'BEGIN {
  printf "  server CPU %.2f us per delivery (master %.2f us, %.0f%%)\n", ms * 1000 / d, m * 1000 / d, ms ? 100 * m / ms : 0
  printf "  system calls per delivery: workers %.4f, master %.4f (per message: workers %.0f, master %.0f)\n", sw / d, sm / d, sw * subs / d, sm * subs / d
  printf "  context switches: workers %d, master %d\n", cw, cm }'
[ -n "$PERF_EVENTS" ] && cat "$work/stat.workers"
echo "  workers' profile, by symbol (self):"
perf report -i "$work/perf.data" --no-children -g none --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -"$TOP" || true
echo "  by shared object:"
perf report -i "$work/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
