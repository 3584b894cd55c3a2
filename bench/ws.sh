#!/usr/bin/env bash
# WebSocket benchmark: how many messages does stampede move per CPU-second?
#
#   bench/ws.sh              # BENCH_VUS sockets to the demo target's /ws/chat, send -> ack loop
#
# The demo target (`stampede demo`) is the server; bench/ws-echo.yaml is the plan. This is a
# measurement, not a test: CI never runs it. See bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=10s       length of the run (10s, 1m)
#   BENCH_VUS=50             VUs, each with one socket kept open
#   BENCH_SERVER_CORE=0      core the demo target is pinned to
#   BENCH_CLIENT_CORE=1      core the load generator is pinned to
#   BENCH_SKIP_BUILD=1       use the existing binary instead of `cargo build --release`
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
PLAN=$ROOT/bench/ws-echo.yaml

# --- the run ----------------------------------------------------------------------------------

measure() {
  # shellcheck disable=SC2119 # start_demo's arguments are optional; the WebSocket run needs none
  start_demo
  local before after
  before=$(proc_ticks "$DEMO_PID")
  log "stampede: $VUS VUs for $DURATION on core $CLIENT_CORE"
  run_pinned ws stampede "$STAMPEDE" run "$PLAN" --target "http://127.0.0.1:$PORT" \
    --vus "$VUS" --duration "$DURATION" --quiet --no-history --out "$TMP/ws.json"
  after=$(proc_ticks "$DEMO_PID")

  local user sys rss rtt sent received p50 p99
  # GNU time prints "Command exited with non-zero status N" first when the tool failed.
  read -r user sys rss < <(tail -n1 "$TMP/ws.time")
  {
    read -r rtt
    read -r sent
    read -r received
    read -r p50
    read -r p99
  } < <(results "$TMP/ws.json" ws_msg_rtt.count ws_msgs_sent.count ws_msgs_received.count \
    'ws_msg_rtt.p(50)' 'ws_msg_rtt.p(99)')

  echo
  echo "WebSocket send -> ack round trips, $VUS sockets, $DURATION, demo target on core $SERVER_CORE, client on core $CLIENT_CORE"
  awk -v rtt="$rtt" -v sent="$sent" -v recv="$received" -v u="$user" -v s="$sys" \
    -v rss="$rss" -v p50="$p50" -v p99="$p99" -v secs="$SECS" \
    -v st="$((after - before))" -v tck="$(getconf CLK_TCK)" '
    function num(v) { return v ~ /^[0-9.]+$/ }
    BEGIN {
      cpu = u + s
      msgs = (num(sent) && num(recv)) ? sent + recv : "n/a"
      printf "%-28s %s\n", "round trips (ws_msg_rtt)", num(rtt) ? sprintf("%.0f (%.0f/s)", rtt, rtt / secs) : rtt
      printf "%-28s %s\n", "messages sent + received", num(msgs) ? sprintf("%.0f (%.0f + %.0f)", msgs, sent, recv) : msgs
      printf "%-28s %.2f (user %.2f + sys %.2f)\n", "CPU seconds", cpu, u, s
      printf "%-28s %s\n", "messages per CPU-second", (num(msgs) && cpu > 0) ? sprintf("%.0f", msgs / cpu) : "n/a"
      printf "%-28s %s / %s\n", "ws_msg_rtt p50 / p99 (ms)", num(p50) ? sprintf("%.3f", p50) : p50, num(p99) ? sprintf("%.3f", p99) : p99
      printf "%-28s %.1f MiB\n", "peak RSS", rss / 1024
      printf "%-28s %.0f%% of one core\n", "demo target CPU", st / tck / secs * 100
    }'
  echo "(demo target CPU near 100% means the server, not the client, set the pace)"
}

main() {
  bench_start stampede-bench-ws
  measure
}

main
