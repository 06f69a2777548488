#!/usr/bin/env bash
# The scale run: CONNECTIONS WebSocket subscribers held at once on this machine, then messages
# broadcast to all of them. Reports the server's RSS (all processes), bytes per connection, the
# time for one message to reach every subscriber, and latency percentiles.
#
#   bench/scale.sh                                  # 100,000 subscribers, 5 broadcasts 1 s apart
#   CONNECTIONS=50000 WORKERS=4 bench/scale.sh
#
# Descriptor limits decide the shape: a process may hold at most `ulimit -Hn` sockets (20,000 in
# the containers we run in, and no CAP_SYS_RESOURCE to raise it), so the server runs WORKERS
# workers (default: enough to stay under the limit) and the load is split over GENERATORS
# tether-bench processes, each from its own 127.0.0.x source addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-100000}
MESSAGES=${MESSAGES:-5}
PORT=${PORT:-18480}
OUT=${OUT:-/tmp/tether-scale.jsonl}

ulimit -n "$(ulimit -Hn)"
limit=$(ulimit -n)
per_process=$((limit * 85 / 100))
WORKERS=${WORKERS:-$(( (CONNECTIONS + per_process - 1) / per_process + 1 ))}
GENERATORS=${GENERATORS:-$(( (CONNECTIONS + per_process - 1) / per_process ))}
per_generator=$(( (CONNECTIONS + GENERATORS - 1) / GENERATORS ))

bench_build build tether websocket tether-bench

work=$(mktemp -d /tmp/tether-scale-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

{
  server_toml build "$PORT" "$limit"
  fanout_routes_toml
  echo 'format = "raw"'
} > "$work/tether.toml"
build/tether -c "$work/tether.toml" & server=$!
pids+=("$server")
wait_port "$PORT"
rss_kib() { tree_rss_kib "$server"; }

echo "scale: $CONNECTIONS WebSocket subscribers, $WORKERS workers, $GENERATORS generators x $per_generator (fd limit $limit)"
before=$(rss_kib)
start=$(date +%s.%N)
for g in $(seq 0 $((GENERATORS - 1))); do
  # 4 source addresses per generator, distinct between generators (ports are per source address).
  build/bench/tether-bench listen --port "$PORT" --path /ws/all --connections "$per_generator" --messages "$MESSAGES" \
    --sources 4 --source-base $((1 + 4 * g)) --concurrency 2000 --timeout 120 \
    > "$work/gen$g.json" 2> "$work/gen$g.err" &
  pids+=($!)
done
for g in $(seq 0 $((GENERATORS - 1))); do
  for _ in $(seq 1200); do grep -q READY "$work/gen$g.err" 2>/dev/null && break; sleep 0.1; done
done
connected_at=$(date +%s.%N)
sleep 2
after=$(rss_kib)
connected=$(cat "$work"/gen*.err | sed -n 's/READY \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}')
build/bench/tether-bench publish --port "$PORT" --publish-path /pub/all --messages "$MESSAGES" --rate 1 --size 64 > "$work/publish.json"
wait "${pids[@]:1}" || true
pids=("$server")

delivered=0 lost=0 p99=0 max=0 p50=0
for g in $(seq 0 $((GENERATORS - 1))); do
  line=$(cat "$work/gen$g.json")
  echo "{\"scenario\":\"scale\",\"generator\":$g,\"result\":$line}" >> "$OUT"
  delivered=$((delivered + $(sed -n 's/.*"delivered":\([0-9]*\).*/\1/p' <<< "$line")))
  lost=$((lost + $(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' <<< "$line")))
  for f in p50 p99 max; do
    v=$(sed -n "s/.*\"$f\":\([0-9]*\).*/\1/p" <<< "$line")
    eval "[ \"$v\" -gt \"\$$f\" ] && $f=$v || true"
  done
done
per=$(( (after - before) * 1024 / (connected > 0 ? connected : 1) ))
connect_seconds=$(awk -v a="$start" -v b="$connected_at" 'BEGIN {printf "%.1f", b - a}')
summary="{\"scenario\":\"scale\",\"summary\":true,\"connections\":$CONNECTIONS,\"connected\":$connected,\"workers\":$WORKERS,\"generators\":$GENERATORS,\"connect_seconds\":$connect_seconds,\"rss_before_kib\":$before,\"rss_after_kib\":$after,\"bytes_per_connection\":$per,\"messages\":$MESSAGES,\"delivered\":$delivered,\"lost\":$lost,\"latency_us_worst_generator\":{\"p50\":$p50,\"p99\":$p99,\"max\":$max}}"
echo "$summary" >> "$OUT"
echo "  connected $connected in ${connect_seconds}s; server RSS $before -> $after KiB: $per bytes per connection"
echo "  $MESSAGES broadcasts: $delivered delivered, $lost lost; latency (worst generator) p50 ${p50}us p99 ${p99}us max ${max}us"
echo "  (max = the time for a message to reach every subscriber)"
echo "JSON lines: $OUT"
