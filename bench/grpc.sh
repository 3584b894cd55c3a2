#!/usr/bin/env bash
# gRPC benchmark: how many unary calls does stampede make per CPU-second?
#
#   bench/grpc.sh            # BENCH_VUS VUs calling the demo target's speech.v1.Speech/Recognize
#
# The demo target (`stampede demo`) is the server; bench/grpc-unary.yaml is the plan. With
# Python grpcio installed (Debian python3-grpcio, or pip), the same loop on grpcio's asyncio
# client (bench/grpc_peer.py) runs next, and the ratio of CPU per call is printed. This is a
# measurement, not a test: CI never runs it. See bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=10s       length of each run (10s, 1m)
#   BENCH_VUS=50             VUs (stampede) / concurrent callers (peer), a connection each
#   BENCH_SERVER_CORE=0      core the demo target is pinned to
#   BENCH_CLIENT_CORE=1      core the load generators are pinned to
#   BENCH_SKIP_BUILD=1       use the existing binary instead of `cargo build --release`
#   BENCH_SKIP_PEER=1        measure stampede only
#   STAMPEDE_BIN=path        binary to measure (default $CARGO_TARGET_DIR or target/release/stampede)
#   BENCH_KEEP=1             keep the temp dir (raw outputs, results JSON) after the run
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_args "$0" "" "$@"

DURATION=${BENCH_DURATION:-10s}
VUS=${BENCH_VUS:-50}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
CLIENT_CORE=${BENCH_CLIENT_CORE:-1}
PLAN=$ROOT/bench/grpc-unary.yaml
PEER=$ROOT/bench/grpc_peer.py

# --- setup ------------------------------------------------------------------------------------

# The peer needs grpcio and protobuf for Python; it is skipped (with a message) without them
# rather than installed, since a pip install would change the user's Python environment.
has_peer() {
  [[ ${BENCH_SKIP_PEER:-0} != 1 ]] && command -v python3 >/dev/null &&
    python3 -c 'import grpc, google.protobuf' 2>/dev/null
}

GRPC_PORT=

# The demo's gRPC services listen on a second port it does not print: the other listening
# socket of the same pid, found with `ss`. start_demo calls this once the HTTP port is known.
find_grpc_port() {
  GRPC_PORT=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$DEMO_PID," -v http="$PORT" '
    index($0, pid) { n = split($4, a, ":"); if (a[n] != http) { print a[n]; exit } }')
  [[ -n $GRPC_PORT ]] || return 1
  log "demo target: HTTP on 127.0.0.1:$PORT, gRPC on 127.0.0.1:$GRPC_PORT (pid $DEMO_PID, core $SERVER_CORE)"
}

# --- measurement helpers ----------------------------------------------------------------------

# Prints one row: tool, calls, calls/s, CPU seconds, calls per CPU-second, peak RSS, demo CPU.
row() {
  awk -v tool="$1" -v calls="$2" -v u="$3" -v s="$4" -v rss="$5" -v st="$6" -v secs="$SECS" \
    -v tck="$(getconf CLK_TCK)" '
    function num(v) { return v ~ /^[0-9.]+$/ }
    BEGIN {
      cpu = u + s
      printf "%-10s %10s %9s %8.2f %14s %9.1f %9.0f%%\n", tool,
        num(calls) ? sprintf("%.0f", calls) : calls,
        num(calls) ? sprintf("%.0f", calls / secs) : "n/a", cpu,
        (num(calls) && cpu > 0) ? sprintf("%.0f", calls / cpu) : "n/a",
        rss / 1024, st / tck / secs * 100
    }'
}

# --- the runs ---------------------------------------------------------------------------------

STAMPEDE_ROW=
PEER_ROW=
STAMPEDE_RATE=
PEER_RATE=

measure_stampede() {
  local before after
  before=$(proc_ticks "$DEMO_PID")
  log "stampede: $VUS VUs for $DURATION on core $CLIENT_CORE"
  run_pinned stampede stampede "$STAMPEDE" run "$PLAN" -e "demo_grpc=127.0.0.1:$GRPC_PORT" \
    --vus "$VUS" --duration "$DURATION" --quiet --no-history --out "$TMP/stampede.json"
  after=$(proc_ticks "$DEMO_PID")
  local user sys rss calls failed p50 p99
  # GNU time prints "Command exited with non-zero status N" first when the tool failed.
  read -r user sys rss < <(tail -n1 "$TMP/stampede.time")
  {
    read -r calls
    read -r failed
    read -r p50
    read -r p99
  } < <(results "$TMP/stampede.json" grpc_reqs.count grpc_req_failed.rate \
    'grpc_req_duration.p(50)' 'grpc_req_duration.p(99)')
  STAMPEDE_ROW=$(row stampede "$calls" "$user" "$sys" "$rss" "$((after - before))")
  STAMPEDE_RATE=$(awk -v c="$calls" -v u="$user" -v s="$sys" 'BEGIN { if (c ~ /^[0-9.]+$/ && u + s > 0) print c / (u + s) }')
  STAMPEDE_NOTE="stampede: grpc_req_failed rate $failed, grpc_req_duration p50 / p99 $p50 / $p99 ms"
}

measure_peer() {
  local before after
  before=$(proc_ticks "$DEMO_PID")
  log "python grpcio: $VUS callers for $DURATION on core $CLIENT_CORE"
  run_pinned peer "the peer" python3 "$PEER" "127.0.0.1:$GRPC_PORT" "$VUS" "$SECS"
  after=$(proc_ticks "$DEMO_PID")
  local user sys rss calls errors
  read -r user sys rss < <(tail -n1 "$TMP/peer.time")
  calls=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' "$TMP/peer.out")
  errors=$(sed -n 's/.* errors=\([0-9]*\)$/\1/p' "$TMP/peer.out")
  PEER_ROW=$(row grpcio "${calls:-n/a}" "$user" "$sys" "$rss" "$((after - before))")
  PEER_RATE=$(awk -v c="${calls:-x}" -v u="$user" -v s="$sys" 'BEGIN { if (c ~ /^[0-9]+$/ && u + s > 0) print c / (u + s) }')
  PEER_NOTE="grpcio: ${errors:-n/a} errors"
}

main() {
  bench_start stampede-bench-grpc ss=iproute2
  start_demo find_grpc_port " (or its gRPC port was not found with ss)"
  measure_stampede
  if has_peer; then
    measure_peer
  else
    log "no Python grpcio/protobuf (or BENCH_SKIP_PEER=1): stampede alone"
  fi

  echo
  echo "gRPC unary calls (speech.v1.Speech/Recognize), $VUS connections, $DURATION, demo target on core $SERVER_CORE, client on core $CLIENT_CORE"
  printf "%-10s %10s %9s %8s %14s %9s %10s\n" tool calls calls/s cpu_s calls/cpu_s peak_MiB demo_cpu
  echo "$STAMPEDE_ROW"
  [[ -n $PEER_ROW ]] && echo "$PEER_ROW"
  echo "$STAMPEDE_NOTE"
  [[ -n $PEER_ROW ]] && echo "$PEER_NOTE"
  if [[ -n $STAMPEDE_RATE && -n $PEER_RATE ]]; then
    awk -v a="$STAMPEDE_RATE" -v b="$PEER_RATE" \
      'BEGIN { printf "calls per CPU-second, stampede / grpcio: %.2f\n", a / b }'
  fi
  echo "(demo_cpu near 100% means the server, not the client, set the pace)"
}

main
