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
#   STAMPEDE_BIN=path        binary to measure (default target/release/stampede)
#   BENCH_KEEP=1             keep the temp dir (raw outputs, results JSON) after the run
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
VUS=${BENCH_VUS:-50}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
CLIENT_CORE=${BENCH_CLIENT_CORE:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMPEDE=${STAMPEDE_BIN:-$ROOT/target/release/stampede}
PLAN=$ROOT/bench/ws-echo.yaml
TIME=/usr/bin/time

case "${1:-}" in
  "") ;;
  -h | --help | help)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0" >&2
    exit 2
    ;;
esac

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# --- setup ------------------------------------------------------------------------------------

install_tools() {
  local missing=()
  [[ -x $TIME ]] || missing+=(time)
  command -v taskset >/dev/null || missing+=(util-linux)
  command -v python3 >/dev/null || command -v jq >/dev/null || missing+=(jq)
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
}

TMP=
DEMO_PID=
PORT=

cleanup() {
  if [[ -n $DEMO_PID ]] && kill -0 "$DEMO_PID" 2>/dev/null; then
    kill -TERM "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
  fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      log "kept $TMP"
    else
      rm -rf "$TMP"
    fi
  fi
}

build_stampede() {
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    log "skipping build, using $STAMPEDE"
  else
    log "building stampede (release)"
    (cd "$ROOT" && cargo build --release -p stampede-cli)
  fi
  [[ -x $STAMPEDE ]] || die "no stampede binary at $STAMPEDE"
}

# Starts the demo target on a free port (`--port 0`) and reads the port from its first stdout
# line, `listening on http://127.0.0.1:PORT`. Its stdout goes to a file, so no pipe keeps the
# script waiting on the process, and the pid in DEMO_PID is the demo's own.
start_demo() {
  taskset -c "$SERVER_CORE" "$STAMPEDE" demo --port 0 >"$TMP/demo.out" 2>"$TMP/demo.err" &
  DEMO_PID=$!
  local _ line
  for _ in $(seq 1 100); do
    line=$(head -n1 "$TMP/demo.out" 2>/dev/null || true)
    if [[ $line =~ listening\ on\ http://127\.0\.0\.1:([0-9]+) ]]; then
      PORT=${BASH_REMATCH[1]}
      log "demo target on 127.0.0.1:$PORT (pid $DEMO_PID, core $SERVER_CORE)"
      return 0
    fi
    kill -0 "$DEMO_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/demo.err" >&2 || true
  die "the demo target did not start"
}

# --- measurement helpers ----------------------------------------------------------------------

# Reads figures from stampede's --out JSON: `.metrics[NAME][FIELD]` for each NAME.FIELD argument
# (k6's --summary-export shape; k6's handleSummary shape, under `.values`, is accepted too).
# Prints one value per line, "n/a" for a missing one. Kept in one place so a change of the
# results file is a one-line fix.
results() {
  local file=$1
  shift
  if command -v python3 >/dev/null; then
    python3 - "$file" "$@" <<'PY'
import json, sys
try:
    metrics = json.load(open(sys.argv[1]))["metrics"]
except Exception:
    metrics = {}
for arg in sys.argv[2:]:
    name, field = arg.rsplit(".", 1)
    try:
        m = metrics[name]
        print(m.get("values", m)[field])
    except Exception:
        print("n/a")
PY
  else
    local arg
    for arg in "$@"; do
      jq -r --arg n "${arg%.*}" --arg f "${arg##*.}" \
        '(.metrics[$n] | (.values // .))[$f] // "n/a" | tostring' "$file" 2>/dev/null || echo n/a
    done
  fi
}

# CPU ticks (user + system) used so far by a process, from /proc/PID/stat.
proc_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
    echo 0
    return 0
  }
  # Fields after the ")" closing the command name: utime and stime are the 12th and 13th.
  awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

duration_secs() {
  local d=$1
  case "$d" in
    *ms) awk -v v="${d%ms}" 'BEGIN { print v / 1000 }' ;;
    *s) echo "${d%s}" ;;
    *m) awk -v v="${d%m}" 'BEGIN { print v * 60 }' ;;
    *h) awk -v v="${d%h}" 'BEGIN { print v * 3600 }' ;;
    *) echo "$d" ;;
  esac
}

# --- the run ----------------------------------------------------------------------------------

measure() {
  start_demo
  local before after status=0
  before=$(proc_ticks "$DEMO_PID")
  log "stampede: $VUS VUs for $DURATION on core $CLIENT_CORE"
  taskset -c "$CLIENT_CORE" "$TIME" -f "%U %S %M" -o "$TMP/ws.time" \
    "$STAMPEDE" run "$PLAN" --target "http://127.0.0.1:$PORT" --vus "$VUS" \
    --duration "$DURATION" --quiet --no-history --out "$TMP/ws.json" \
    >"$TMP/ws.out" 2>"$TMP/ws.err" || status=$?
  after=$(proc_ticks "$DEMO_PID")
  if ((status != 0)); then
    log "stampede exited with status $status; last lines of its output:"
    tail -n 5 "$TMP/ws.err" "$TMP/ws.out" >&2 || true
  fi

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
  (($(nproc) >= 2)) || log "warning: fewer than 2 cores; server and client share a core"
  install_tools
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/stampede-bench-ws.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  SECS=$(duration_secs "$DURATION")
  build_stampede
  measure
}

main
