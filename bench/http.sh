#!/usr/bin/env bash
# HTTP benchmark: what does stampede cost per request next to wrk, and per VU at scale?
#
#   bench/http.sh            # compare: wrk vs stampede, same target, same connections
#   bench/http.sh vus        # stampede's peak RSS (and connect time) at 1,000 and 10,000 VUs
#   bench/http.sh templated  # what run-time values ({{ sequence }}, {{ uuid }}) cost per request
#
# This is a measurement, not a test: CI never runs it. See bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=10s       length of each run (wrk/stampede syntax: 10s, 1m)
#   BENCH_CONNECTIONS=50     connections / VUs in compare and templated modes
#   BENCH_VUS="1000 10000"   VU counts in vus mode
#   BENCH_SERVER_CORE=0      core nginx is pinned to
#   BENCH_CLIENT_CORE=1      core the load generator is pinned to
#   BENCH_SKIP_BUILD=1       use the existing binary instead of `cargo build --release`
#   STAMPEDE_BIN=path        binary to measure (default $CARGO_TARGET_DIR or target/release/stampede)
#   BENCH_KEEP=1             keep the temp dir (configs, raw outputs) after the run
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_args "$0 [compare|vus|templated]" "compare vus templated" "$@"

MODE=${1:-compare}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
VUS_LIST=${BENCH_VUS:-"1000 10000"}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
CLIENT_CORE=${BENCH_CLIENT_CORE:-1}

# --- setup ------------------------------------------------------------------------------------

NGINX=
NGINX_PID=

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return 0
  # No python3: probe a range; a refused connection means the port is free.
  local p
  for p in $(seq 18080 18180); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# 100-byte body: small enough that the run measures request handling, not copying.
BODY=$(printf '%*s' 100 '' | tr ' ' x)

start_nginx() {
  local worker_connections=$1
  local nofile
  nofile=$(ulimit -n)
  # nginx may not raise its own limit past the one it inherits (it fails in containers).
  [[ $nofile == unlimited ]] && nofile=1048576
  PORT=$(free_port)
  mkdir -p "$TMP/nginx"
  cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile $nofile;
events {
    worker_connections $worker_connections;
}
http {
    access_log off;
    default_type text/plain;
    # Both tools keep their connections open; never make them reconnect mid-run.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location / {
            return 200 "$BODY";
        }
    }
}
EOF
  taskset -c "$SERVER_CORE" "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" \
    -c "$TMP/nginx/nginx.conf" &
  NGINX_PID=$!
  register_pid "$NGINX_PID"
  local _
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      log "nginx on 127.0.0.1:$PORT (pid $NGINX_PID, core $SERVER_CORE, worker_connections $worker_connections)"
      return 0
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/nginx/error.log" >&2 || true
  die "nginx did not start"
}

# --- measurement helpers ----------------------------------------------------------------------

# Requests wrk completed, from its "N requests in 10.00s, ..." line.
wrk_requests() {
  awk '/ requests in / { print $1; found = 1 } END { if (!found) print "n/a" }' "$1"
}

# Requests stampede completed, from its --out JSON (`results` in lib.sh: k6's handleSummary
# shape, .metrics.http_reqs.values.count, or its --summary-export shape,
# .metrics.http_reqs.count), as a whole number; "n/a" when the run did not report it.
stampede_requests() {
  results "$1" http_reqs.count | awk '/^[0-9]+(\.[0-9]*)?$/ { printf "%d\n", $1; next } { print }'
}

# nginx's worker process (the one doing the work); the master only forks it.
nginx_worker() {
  pgrep -P "$NGINX_PID" | head -n1
}

# Polls established client connections to nginx until `want` exist; prints the seconds it took
# (or "n/a" if never reached). Runs in the background beside the load generator.
watch_connections() {
  local want=$1 out=$2 limit_secs=$3
  local start now count
  start=$(date +%s.%N)
  while :; do
    count=$(ss -Htn state established "( dport = :$PORT )" 2>/dev/null | wc -l)
    now=$(date +%s.%N)
    if ((count >= want)); then
      awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f\n", b - a }' >"$out"
      return 0
    fi
    if awk -v a="$start" -v b="$now" -v l="$limit_secs" 'BEGIN { exit !(b - a > l) }'; then
      echo "n/a (max seen $count)" >"$out"
      return 0
    fi
    sleep 0.05
  done
}

# Runs one pinned, timed load generator. Writes "<user> <sys> <maxrss_kb>" to $TMP/<name>.time
# and "<ticks>" of nginx's CPU over the run to $TMP/<name>.server; returns the tool's status.
run_measured() {
  local name=$1
  shift
  local worker before after
  worker=$(nginx_worker)
  before=$(proc_ticks "$worker")
  run_pinned "$name" "$name" "$@"
  after=$(proc_ticks "$worker")
  echo $((after - before)) >"$TMP/$name.server"
}

CLK_TCK=$(getconf CLK_TCK)

# One table row: name, requests, and the .time/.server files of the run.
row() {
  local name=$1 requests=$2
  local user sys rss server_ticks
  if [[ -s $TMP/$name.time ]]; then
    # GNU time prints "Command exited with non-zero status N" first when the tool failed.
    read -r user sys rss < <(tail -n1 "$TMP/$name.time")
  else
    user=0 sys=0 rss=0
  fi
  server_ticks=$(cat "$TMP/$name.server" 2>/dev/null || echo 0)
  awk -v name="$name" -v req="$requests" -v u="$user" -v s="$sys" -v rss="$rss" \
    -v st="$server_ticks" -v tck="$CLK_TCK" -v secs="$SECS" '
    BEGIN {
      cpu = u + s
      if (req ~ /^[0-9]+$/ && req > 0) {
        rps = sprintf("%.0f", req / secs); per100k = sprintf("%.3f", cpu / req * 100000)
      } else { rps = "n/a"; per100k = "n/a" }
      printf "%-22s %12s %10s %9.2f %14s %10.1f %10.0f%%\n", name, req, rps, cpu, per100k,
        rss / 1024, st / tck / secs * 100
    }'
}

header() {
  printf '%-22s %12s %10s %9s %14s %10s %11s\n' \
    tool requests req/s cpu_s cpu_s/100k peak_MiB nginx_cpu
}

per100k() {
  local name=$1 requests=$2
  if ! [[ $requests =~ ^[0-9]+$ ]] || ((requests == 0)); then
    echo n/a
    return 0
  fi
  local user sys rss
  read -r user sys rss < <(tail -n1 "$TMP/$name.time")
  awk -v u="$user" -v s="$sys" -v r="$requests" 'BEGIN { printf "%.6f\n", (u + s) / r * 100000 }'
}

# --- modes ------------------------------------------------------------------------------------

compare() {
  start_nginx 4096
  local url="http://127.0.0.1:$PORT/"
  log "wrk: $CONNECTIONS connections for $DURATION on core $CLIENT_CORE"
  run_measured wrk wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$url"
  sleep 1
  log "stampede: $CONNECTIONS VUs for $DURATION on core $CLIENT_CORE"
  run_measured stampede "$STAMPEDE" run --url "$url" --vus "$CONNECTIONS" \
    --duration "$DURATION" --quiet --out "$TMP/stampede.json"

  local wrk_req st_req
  wrk_req=$(wrk_requests "$TMP/wrk.out")
  st_req=$(stampede_requests "$TMP/stampede.json")
  echo
  echo "HTTP/1.1 keep-alive, $CONNECTIONS connections, $DURATION, nginx on core $SERVER_CORE, client on core $CLIENT_CORE"
  header
  row wrk "$wrk_req"
  row stampede "$st_req"
  local a b
  a=$(per100k stampede "$st_req")
  b=$(per100k wrk "$wrk_req")
  if [[ $a != n/a && $b != n/a ]]; then
    awk -v a="$a" -v b="$b" 'BEGIN { printf "\nCPU per request, stampede / wrk: %.2fx\n", a / b }'
  else
    echo
    echo "CPU per request, stampede / wrk: n/a (a run did not report its request count)"
  fi
  echo "(nginx_cpu near 100% means the server, not the client, set the pace)"
}

vus() {
  local soft
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  soft=$(ulimit -n)
  log "open files limit: $soft"
  start_nginx 20000
  local url="http://127.0.0.1:$PORT/"
  echo "stampede at scale: $DURATION per run, nginx on core $SERVER_CORE, client on core $CLIENT_CORE"
  local n rows=()
  for n in $VUS_LIST; do
    if ((n + 100 > soft)); then
      log "skipping $n VUs: open files limit $soft is too low"
      continue
    fi
    log "stampede: $n VUs for $DURATION"
    watch_connections "$n" "$TMP/vus-$n.connected" "$SECS" &
    local watcher=$!
    run_measured "vus-$n" "$STAMPEDE" run --url "$url" --vus "$n" --duration "$DURATION" \
      --quiet --out "$TMP/vus-$n.json"
    wait "$watcher" 2>/dev/null || true
    rows+=("$n")
    sleep 2 # let the sockets of the last run leave the established state
  done
  echo
  printf '%-22s %12s %10s %9s %14s %10s %11s %14s\n' \
    tool requests req/s cpu_s cpu_s/100k peak_MiB nginx_cpu all_connected_s
  for n in "${rows[@]}"; do
    printf '%s %s\n' "$(row "vus-$n" "$(stampede_requests "$TMP/vus-$n.json")")" \
      "$(cat "$TMP/vus-$n.connected" 2>/dev/null || echo n/a)"
  done
  echo "(all_connected_s: time from launch until port $PORT had one established connection per VU)"
}

# Prints "A / B: N.NNx" for two CPU-per-100k figures, or n/a when either run gave no count.
ratio() {
  local label=$1 a=$2 b=$3
  if [[ $a != n/a && $b != n/a ]]; then
    awk -v l="$label" -v a="$a" -v b="$b" 'BEGIN { printf "%s: %.2fx\n", l, a / b }'
  else
    echo "$label: n/a (a run did not report its request count)"
  fi
}

# wrk, stampede's quick test (as in compare), then the same request from two plans that differ
# only in run-time values: bench/http-fixed.yaml (serialized once, at load) and
# bench/http-templated.yaml (`/?id={{ sequence }}`, `x-request-id: {{ uuid }}`, rendered per
# request). The last two have the same path, header and size, so their ratio is the cost of
# rendering alone.
templated() {
  start_nginx 4096
  local url="http://127.0.0.1:$PORT/" target="http://127.0.0.1:$PORT"
  log "wrk: $CONNECTIONS connections for $DURATION on core $CLIENT_CORE"
  run_measured wrk wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$url"
  sleep 1
  log "stampede --url: $CONNECTIONS VUs for $DURATION on core $CLIENT_CORE"
  run_measured stampede "$STAMPEDE" run --url "$url" --vus "$CONNECTIONS" \
    --duration "$DURATION" --quiet --no-history --out "$TMP/stampede.json"
  local plan
  for plan in fixed templated; do
    sleep 1
    log "stampede bench/http-$plan.yaml: $CONNECTIONS VUs for $DURATION on core $CLIENT_CORE"
    run_measured "stampede-$plan" "$STAMPEDE" run "$ROOT/bench/http-$plan.yaml" \
      --target "$target" --vus "$CONNECTIONS" --duration "$DURATION" --quiet --no-history \
      --out "$TMP/stampede-$plan.json"
  done

  local wrk_req st_req fixed_req tmpl_req
  wrk_req=$(wrk_requests "$TMP/wrk.out")
  st_req=$(stampede_requests "$TMP/stampede.json")
  fixed_req=$(stampede_requests "$TMP/stampede-fixed.json")
  tmpl_req=$(stampede_requests "$TMP/stampede-templated.json")
  echo
  echo "HTTP/1.1 keep-alive, $CONNECTIONS connections, $DURATION, nginx on core $SERVER_CORE, client on core $CLIENT_CORE"
  header
  row wrk "$wrk_req"
  row stampede "$st_req"
  row stampede-fixed "$fixed_req"
  row stampede-templated "$tmpl_req"
  local w s f t
  w=$(per100k wrk "$wrk_req")
  s=$(per100k stampede "$st_req")
  f=$(per100k stampede-fixed "$fixed_req")
  t=$(per100k stampede-templated "$tmpl_req")
  echo
  echo "CPU per request:"
  ratio "  templated / fixed (same request, rendered vs serialized once)" "$t" "$f"
  ratio "  templated / wrk" "$t" "$w"
  ratio "  fixed / wrk" "$f" "$w"
  ratio "  stampede --url / wrk (as in compare mode)" "$s" "$w"
  echo "(stampede: --url quick test; stampede-fixed / -templated: bench/http-fixed.yaml / bench/http-templated.yaml)"
  echo "(nginx_cpu near 100% means the server, not the client, set the pace)"
}

main() {
  bench_start stampede-bench wrk=wrk nginx=nginx-light ss=iproute2
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  "$MODE"
}

main
