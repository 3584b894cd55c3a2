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

DURATION=${BENCH_DURATION:-10s}
VUS=${BENCH_VUS:-50}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
CLIENT_CORE=${BENCH_CLIENT_CORE:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMPEDE=${STAMPEDE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/stampede}
PLAN=$ROOT/bench/grpc-unary.yaml
PEER=$ROOT/bench/grpc_peer.py
TIME=/usr/bin/time

case "${1:-}" in
  "") ;;
  -h | --help | help)
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
  command -v ss >/dev/null || missing+=(iproute2)
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

# The peer needs grpcio and protobuf for Python; it is skipped (with a message) without them
# rather than installed, since a pip install would change the user's Python environment.
has_peer() {
  [[ ${BENCH_SKIP_PEER:-0} != 1 ]] && command -v python3 >/dev/null &&
    python3 -c 'import grpc, google.protobuf' 2>/dev/null
}

TMP=
DEMO_PID=
PORT=
GRPC_PORT=

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

# Starts the demo target on a free port (`--port 0`) and reads the HTTP port from its first
# stdout line, `listening on http://127.0.0.1:PORT`. The gRPC services listen on a second
# port the demo does not print: the other listening socket of the same pid, found with `ss`.
start_demo() {
  taskset -c "$SERVER_CORE" "$STAMPEDE" demo --port 0 >"$TMP/demo.out" 2>"$TMP/demo.err" &
  DEMO_PID=$!
  local _ line
  for _ in $(seq 1 100); do
    line=$(head -n1 "$TMP/demo.out" 2>/dev/null || true)
    if [[ $line =~ listening\ on\ http://127\.0\.0\.1:([0-9]+) ]]; then
      PORT=${BASH_REMATCH[1]}
      GRPC_PORT=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$DEMO_PID," -v http="$PORT" '
        index($0, pid) { n = split($4, a, ":"); if (a[n] != http) { print a[n]; exit } }')
      if [[ -n $GRPC_PORT ]]; then
        log "demo target: HTTP on 127.0.0.1:$PORT, gRPC on 127.0.0.1:$GRPC_PORT (pid $DEMO_PID, core $SERVER_CORE)"
        return 0
      fi
    fi
    kill -0 "$DEMO_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/demo.err" >&2 || true
  die "the demo target did not start (or its gRPC port was not found with ss)"
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
  local before after status=0
  before=$(proc_ticks "$DEMO_PID")
  log "stampede: $VUS VUs for $DURATION on core $CLIENT_CORE"
  taskset -c "$CLIENT_CORE" "$TIME" -f "%U %S %M" -o "$TMP/stampede.time" \
    "$STAMPEDE" run "$PLAN" -e "demo_grpc=127.0.0.1:$GRPC_PORT" --vus "$VUS" \
    --duration "$DURATION" --quiet --no-history --out "$TMP/stampede.json" \
    >"$TMP/stampede.out" 2>"$TMP/stampede.err" || status=$?
  after=$(proc_ticks "$DEMO_PID")
  if ((status != 0)); then
    log "stampede exited with status $status; last lines of its output:"
    tail -n 5 "$TMP/stampede.err" "$TMP/stampede.out" >&2 || true
  fi
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
  local before after status=0
  before=$(proc_ticks "$DEMO_PID")
  log "python grpcio: $VUS callers for $DURATION on core $CLIENT_CORE"
  taskset -c "$CLIENT_CORE" "$TIME" -f "%U %S %M" -o "$TMP/peer.time" \
    python3 "$PEER" "127.0.0.1:$GRPC_PORT" "$VUS" "$SECS" >"$TMP/peer.out" 2>"$TMP/peer.err" || status=$?
  after=$(proc_ticks "$DEMO_PID")
  if ((status != 0)); then
    log "the peer exited with status $status; last lines of its output:"
    tail -n 5 "$TMP/peer.err" "$TMP/peer.out" >&2 || true
  fi
  local user sys rss calls errors
  read -r user sys rss < <(tail -n1 "$TMP/peer.time")
  calls=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' "$TMP/peer.out")
  errors=$(sed -n 's/.* errors=\([0-9]*\)$/\1/p' "$TMP/peer.out")
  PEER_ROW=$(row grpcio "${calls:-n/a}" "$user" "$sys" "$rss" "$((after - before))")
  PEER_RATE=$(awk -v c="${calls:-x}" -v u="$user" -v s="$sys" 'BEGIN { if (c ~ /^[0-9]+$/ && u + s > 0) print c / (u + s) }')
  PEER_NOTE="grpcio: ${errors:-n/a} errors"
}

main() {
  (($(nproc) >= 2)) || log "warning: fewer than 2 cores; server and client share a core"
  install_tools
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/stampede-bench-grpc.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  SECS=$(duration_secs "$DURATION")
  build_stampede
  start_demo
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
