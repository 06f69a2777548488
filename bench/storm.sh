#!/usr/bin/env bash
# Reconnect storms, after the articles tether started from (tether-bench storm, storm.h). With
# SUBSCRIBERS WebSocket subscribers (default 10,000) receiving RATE messages/s, four scenarios,
# RUNS times each (default 3), medians printed:
#   leave          every subscriber leaves at once and comes back within LEAVE_SPREAD s (5),
#                  resuming with ?since=: all must be back with no message missed
#   leave-limited  the same with [limits] max_accept_rate = ACCEPT_RATE per worker (500): the
#                  overflow gets 503 + Retry-After and retries; still none missed
#   reload-0       SIGHUP with drain_spread = "0s" (drain_timeout 6s): the old generation's
#                  subscribers are all closed at the drain timeout
#   reload-5       SIGHUP with drain_spread = "5s": their goodbyes are spread over the last 5 s
# The figures: peak reconnects (and server closes) per 100 ms, the time until the last one is
# back, 503s, the time a reconnect takes (connect to 101, p50/p99: the server is also delivering
# SUBSCRIBERS x RATE messages/s meanwhile), missing and duplicated messages.
#
#   bench/storm.sh                          # all four, 3 runs each
#   SCENARIOS="reload-0 reload-5" RUNS=5 SUBSCRIBERS=5000 bench/storm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SUBSCRIBERS=${SUBSCRIBERS:-10000}
RUNS=${RUNS:-3}
RATE=${RATE:-5}
SECONDS_PUBLISHING=${SECONDS_PUBLISHING:-12}
LEAVE_SPREAD=${LEAVE_SPREAD:-5}
ACCEPT_RATE=${ACCEPT_RATE:-500}
WORKERS=${WORKERS:-2}
SCENARIOS=${SCENARIOS:-"leave leave-limited reload-0 reload-5"}
OUT=${OUT:-/tmp/tether-storm.jsonl}
messages=$((RATE * SECONDS_PUBLISHING))

bench_build build tether websocket tether-bench
bench_workdir storm

# write_config PORT DRAIN_SPREAD MAX_ACCEPT_RATE
write_config() {
  {
    server_toml build "$1" $(($(ulimit -n) - 100)) "drain_timeout = \"6s\"
drain_spread = \"$2\"" "max_accept_rate = $3"
    fanout_routes_toml
    printf '[pubsub]\nhistory_size = %s\nhistory_ttl = "5m"\n' $((messages + 100))
  } > "$work/tether.toml"
}

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<< "$2"; }

echo "storm: $SUBSCRIBERS WebSocket subscribers, $WORKERS workers, $messages messages at $RATE/s, $RUNS runs per scenario"
: > "$work/summary"
for scenario in $SCENARIOS; do
  spread="5s" accept=0 how=()
  case "$scenario" in
    leave) how=(--leave-at 2 --leave-spread "$LEAVE_SPREAD") ;;
    leave-limited) accept=$ACCEPT_RATE; how=(--leave-at 2 --leave-spread "$LEAVE_SPREAD") ;;
    reload-0) spread="0s" ;;
    reload-5) spread="5s" ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  : > "$work/$scenario.lines"
  for run in $(seq "$RUNS"); do
    port=$(free_port)
    write_config "$port" "$spread" "$accept"
    build/tether -c "$work/tether.toml" & server=$!
    wait_port "$port"
    sleep 0.5
    [[ "$scenario" == reload-* ]] && how=(--reload-pid "$server" --reload-at 1)
    line=$(build/bench/tether-bench storm --port "$port" --path "/ws/storm$run" --publish-path "/pub/storm$run" \
      --connections "$SUBSCRIBERS" --messages "$messages" --rate "$RATE" --sources 8 --concurrency 1000 \
      --grace 15 --label "$scenario" "${how[@]}" 2>"$work/bench.err" || true)
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
    if [ -z "$line" ]; then
      echo "  $scenario run $run: no result"; cat "$work/bench.err" >&2; continue
    fi
    echo "{\"scenario\":\"storm\",\"run\":$run,\"result\":$line}" >> "$OUT"
    echo "$line" >> "$work/$scenario.lines"
    printf '  %-14s run %s: reconnects %s (peak %s per 100 ms over %s s), server closes %s (peak %s per 100 ms), 503s %s, missing %s, duplicated %s, connected at end %s\n' \
      "$scenario" "$run" "$(field reconnects "$line")" "$(field peak_reconnects_per_100ms "$line")" \
      "$(field reconnect_span_s "$line")" "$(field server_closes "$line")" "$(field peak_closes_per_100ms "$line")" \
      "$(field refused "$line")" "$(field missing "$line")" "$(field duplicated "$line")" "$(field connected_at_end "$line")"
  done
  med() { while read -r l; do field "$1" "$l"; done < "$work/$scenario.lines" | median; }
  printf '%-14s peak reconnects/100ms %6s  span %5s s  last back at %6s s  peak closes/100ms %6s  503s %6s  handshake p50 %6s us p99 %7s us  missing %s\n' \
    "$scenario" "$(med peak_reconnects_per_100ms)" "$(med reconnect_span_s)" "$(med last_reconnect_s)" \
    "$(med peak_closes_per_100ms)" "$(med refused)" "$(med p50)" "$(med p99)" "$(med missing)" >> "$work/summary"
done
echo "medians:"
cat "$work/summary"
echo "JSON lines: $OUT"
