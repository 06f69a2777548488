# Shell helpers the bench scripts share (sourced, not run).

# Waits until 127.0.0.1:$1 accepts connections (5 s at most); fails otherwise.
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# Prints a loopback port nothing listens on (a random one in 20000-39999; fails after 100 tries).
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

# The CPU time in ms (user + system) that process $1 and all its descendants have used so far.
tree_cpu_ms() {
  local ticks=0 p hz
  hz=$(getconf CLK_TCK)
  for p in $(pstree -p "$1" 2>/dev/null | grep -o '([0-9]\+)' | tr -d '()' || echo "$1"); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $((ticks * 1000 / hz))
}

# The RSS in KiB of process $1 and all its descendants (a server's master and workers).
tree_rss_kib() {
  local total=0 p
  for p in $(pstree -p "$1" 2>/dev/null | grep -o '([0-9]\+)' | tr -d '()' || echo "$1"); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
