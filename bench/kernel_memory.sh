#!/usr/bin/env bash
# The kernel's memory per idle WebSocket connection, beside tether's own: CONNECTIONS subscribers
# held on loopback, the kernel's slab memory (/proc/meminfo Slab, per cache from /proc/slabinfo)
# and TCP buffer pages (/proc/net/sockstat) read before and after. Both ends of every connection
# are on this machine, so the kernel's figure is per socket: (after - before) / (2 x CONNECTIONS).
# For docs/scaling.md. Root (slabinfo). RUNS runs, one JSON line each, and a summary.
#
#   bench/kernel_memory.sh                      # 10,000 connections, 3 runs
#   CONNECTIONS=15000 RUNS=5 bench/kernel_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-10000}
RUNS=${RUNS:-3}
OUT=${OUT:-/tmp/tether-kernel-memory.jsonl}

WORKERS=2
bench_build build tether websocket tether-bench
bench_workdir kmem

slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
tcp_pages() { awk '/^TCP:/ {for (i = 1; i <= NF; ++i) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat; }
# "name bytes" for every slab cache: active objects x object size.
slab_caches() { awk 'NR > 2 {print $1, $2 * $4}' /proc/slabinfo | sort; }

for run in $(seq "$RUNS"); do
  port=$(free_port)
  {
    server_toml build "$port" "$CONNECTIONS"
    fanout_routes_toml
    echo 'format = "raw"'
  } > "$work/tether.toml"
  build/tether -c "$work/tether.toml" & server=$!
  wait_port "$port"
  sleep 1
  sync; echo 2 > /proc/sys/vm/drop_caches  # reclaimable slab (dentries) out of the way, both times
  slab_before=$(slab_kib) pages_before=$(tcp_pages) rss_before=$(tree_rss_kib "$server")
  slab_caches > "$work/caches.before"
  build/bench/tether-bench connect --port "$port" --path /ws/idle --connections "$CONNECTIONS" --hold 8 \
    --sources 4 --concurrency 2000 > "$work/connect.json" 2> "$work/connect.err" &
  generator=$!
  for _ in $(seq 600); do grep -q READY "$work/connect.err" 2>/dev/null && break; sleep 0.1; done
  sleep 2
  sync; echo 2 > /proc/sys/vm/drop_caches
  slab_after=$(slab_kib) pages_after=$(tcp_pages) rss_after=$(tree_rss_kib "$server")
  slab_caches > "$work/caches.after"
  wait "$generator" || true
  connected=$(sed -n 's/READY \([0-9]*\).*/\1/p' "$work/connect.err")
  connected=${connected:-0}
  kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
  sockets=$((2 * (connected > 0 ? connected : 1)))
  slab_per=$(( (slab_after - slab_before) * 1024 / sockets ))
  buffers_per=$(( (pages_after - pages_before) * 4096 / sockets ))
  rss_per=$(( (rss_after - rss_before) * 1024 / (connected > 0 ? connected : 1) ))
  # The caches that grew most, per socket.
  top=$(join "$work/caches.before" "$work/caches.after" |
        awk -v n="$sockets" '{d = $3 - $2; if (d > 0) printf "%s %d\n", $1, d / n}' | sort -k2 -nr | head -6 |
        awk '{printf "%s\"%s\":%d", (NR > 1 ? "," : ""), $1, $2}')
  line="{\"run\":$run,\"connections\":$connected,\"kernel_slab_bytes_per_socket\":$slab_per,\"tcp_buffer_bytes_per_socket\":$buffers_per,\"tether_rss_bytes_per_connection\":$rss_per,\"top_caches_bytes_per_socket\":{$top}}"
  echo "$line" | tee -a "$OUT"
done
echo "JSON lines: $OUT"
