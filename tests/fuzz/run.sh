#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build for a bounded time on a scratch copy of its seed
# corpus (the checkout is never written), after replaying the saved crash inputs in
# tests/fuzz/regressions/. Prints executions and coverage per harness; fails if any harness
# found a crash, a leak, a timeout or ran out of memory, leaving the input in
# <build-dir>/fuzz-artifacts/.
#
#   tests/fuzz/run.sh <build-dir> <seconds-per-harness> [harness...]   # default: all of them
#
# The build dir is one configured with -DTETHER_FUZZ=ON (CC=clang CXX=clang++) and built with
# `cmake --build <build-dir> --target fuzzers`. FUZZ_JOBS=N runs N harnesses at a time.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
build=$(cd "$1" && pwd) || exit 2
seconds=$2
shift 2
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for bin in "$build"/fuzz/*_fuzz; do [ -x "$bin" ] && harnesses+=("$(basename "$bin" _fuzz)"); done
fi
[ ${#harnesses[@]} -gt 0 ] || { echo "no harness in $build/fuzz: build the 'fuzzers' target"; exit 2; }

scratch=$(mktemp -d /tmp/tether-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
# Reports are what fail a run: leaks count, UBSan stops at the first finding.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one NAME: prints one summary line; the full log stays in $scratch/NAME.log.
run_one() {
  local name=$1 bin=$build/fuzz/$1_fuzz log=$scratch/$1.log corpus=$scratch/$1.corpus
  [ -x "$bin" ] || { echo "FAIL $name: $bin not built"; return 1; }
  mkdir -p "$corpus"
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$corpus/"
  local replay=() dict=()
  for f in "$here"/regressions/"$name"-*; do [ -f "$f" ] && replay+=("$f"); done
  if [ ${#replay[@]} -gt 0 ] && ! "$bin" -runs=1 "${replay[@]}" >"$log.replay" 2>&1; then
    echo "FAIL $name: a saved regression input crashes again"; tail -40 "$log.replay"
    return 1
  fi
  [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$corpus" >"$log" 2>&1
  local status=$?
  local execs cov ft units
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  units=$(find "$corpus" -type f | wc -l)
  if [ $status -eq 0 ]; then
    printf 'ok   %-14s %10s execs in %ss, cov %s, ft %s, corpus %s\n' "$name" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" "$units"
    return 0
  fi
  printf 'FAIL %-14s after %s execs, cov %s: exit %s\n' "$name" "${execs:-?}" "${cov:-?}" "$status"
  grep -m1 -E '^==[0-9]+==ERROR|SUMMARY|runtime error|deadly signal|timeout|out-of-memory|fuzz: ' "$log"
  # The first frames of the first stack: where it happened.
  awk '/^==[0-9]+==ERROR|runtime error|_fuzz: /{on=1} on && /^ +#[0-9]/{print; n++} on && n && !/^ +#[0-9]/{exit} n==12{exit}' "$log"
  ls "$artifacts"/"$name"-* 2>/dev/null | sed 's/^/     input: /'
  return 1
}

failed=()
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -le 1 ]; then
  for name in "${harnesses[@]}"; do run_one "$name" || failed+=("$name"); done
else
  pids=() names=()
  for name in "${harnesses[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    (run_one "$name" >"$scratch/$name.summary"; echo $? >"$scratch/$name.status"; cat "$scratch/$name.summary") &
  done
  wait
  for name in "${harnesses[@]}"; do [ "$(cat "$scratch/$name.status")" = 0 ] || failed+=("$name"); done
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (logs above; inputs in $artifacts)"
  exit 1
fi
echo "fuzzing: ${#harnesses[@]} harnesses ran ${seconds}s each without a finding"
