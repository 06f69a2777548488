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

# Gets what the scripts read processes with (pstree), lifts the descriptor limit to the hard one
# and builds the targets $2... in build directory $1 (RelWithDebInfo: optimised, with symbols).
bench_build() {
  local dir=$1
  shift
  command -v pstree >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq psmisc; }
  ulimit -n "$(ulimit -Hn)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target "$@" >/dev/null
}

# Makes $work, a temporary directory named after $1, removed at exit once the server whose pid
# is in $server (if any) has stopped.
bench_workdir() {
  work=$(mktemp -d "/tmp/tether-$1-XXXXXX")
  server=""
  trap bench_cleanup EXIT
}
bench_cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}

# The head of a bench server's config, on stdout:
#   server_toml BUILD PORT MAX_CONNECTIONS [SERVER_LINES [LIMITS_LINES]]
# [server] with $WORKERS workers, pid file and log in $work, the modules of build directory BUILD
# and SERVER_LINES; [limits] with MAX_CONNECTIONS and LIMITS_LINES; a listener on 127.0.0.1:PORT.
server_toml() {
  printf '[server]\nworkers = %s\npid_file = "%s/tether.pid"\nerror_log = "%s/error.log"\nmodules_dir = "%s/%s/modules"\n%s\n' \
    "$WORKERS" "$work" "$work" "$PWD" "$1" "${4:-}"
  printf '[limits]\nmax_connections = %s\n%s\n[[listen]]\naddress = "127.0.0.1:%s"\nbacklog = 65535\n' "$3" "${5:-}" "$2"
}

# Publishing on /pub/* and WebSocket subscribers on /ws/*, on stdout; keys of the /ws/* route's
# [route.websocket] table (format = "raw", max_queue = ...) may follow, then other tables.
fanout_routes_toml() {
  printf '[modules.websocket]\n[[route]]\npath = "/pub/*"\nhandler = "publish"\n[[route]]\npath = "/ws/*"\nhandler = "websocket"\n[route.websocket]\n'
}

# The median of the numbers on stdin, one per line (the lower middle of an even count; 0 for none).
median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print 0; else print a[int((NR + 1) / 2)]}'; }
