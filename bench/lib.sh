# shellcheck shell=bash
# What every benchmark script in bench/ shares: logging, tool installation, the temp dir and its
# clean-up, the stampede build, the demo target, reading the results JSON, CPU ticks of a
# process and pinned, timed runs. Sourced, never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Kept in one file so that a change of the results file, of the demo's start-up line or of the
# default binary path is one fix, not three. Each script keeps its own settings, its output
# format and its notes on what it measures.
#
# Defines ROOT (the repository), STAMPEDE (the binary to measure: STAMPEDE_BIN, else
# $CARGO_TARGET_DIR/release/stampede, else target/release/stampede) and TIME (GNU time). The
# scripts set SERVER_CORE, CLIENT_CORE and DURATION before calling bench_start / start_demo.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAMPEDE=${STAMPEDE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/stampede}
TIME=/usr/bin/time

TMP=
SECS=
DEMO_PID=
PORT=
# Processes the clean-up stops on exit; see register_pid.
BENCH_PIDS=()

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Handles the one command-line argument: -h/--help/help prints the script's header comment (its
# usage and settings) and exits; anything but nothing or one of WORDS is a usage error.
#
#   check_args USAGE "WORDS" "$@"
check_args() {
  local usage=$1 words=$2 arg=${3:-}
  case "$arg" in
    -h | --help | help)
      # The header: the comment lines after the shebang, up to the first line of code.
      awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[-1]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
  esac
  if [[ -n $arg && " $words " != *" $arg "* ]]; then
    echo "usage: $usage" >&2
    exit 2
  fi
}

# --- setup ------------------------------------------------------------------------------------

# Installs with apt-get (root, or sudo) what is missing: GNU time, taskset, and jq when there is
# no python3 (`results` needs one of them), plus each COMMAND=PACKAGE given whose COMMAND is
# neither on PATH nor in /usr/sbin (nginx lives there, and PATH may not have it).
install_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || [[ -x /usr/sbin/${pair%%=*} ]] || missing+=("${pair#*=}")
  done
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

# Marks a background process (a server) for the clean-up to stop on exit.
register_pid() {
  BENCH_PIDS+=("$1")
}

# Stops the registered processes and removes the temp dir (unless BENCH_KEEP=1). The EXIT trap,
# so it also runs on Ctrl-C or an error.
cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
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

# The common start of a run: installs missing tools (COMMAND=PACKAGE pairs as for
# install_tools), makes the temp dir TMP (named after NAME) with the clean-up trap, sets SECS
# from DURATION and builds stampede.
#
#   bench_start NAME [COMMAND=PACKAGE...]
bench_start() {
  local name=$1
  shift
  (($(nproc) >= 2)) || log "warning: fewer than 2 cores; server and client share a core"
  install_tools "$@"
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # shellcheck disable=SC2034 # SECS is read by the scripts
  SECS=$(duration_secs "$DURATION")
  build_stampede
}

# Starts the demo target on a free port (`--port 0`) and reads the port from its first stdout
# line, `listening on http://127.0.0.1:PORT`. Its stdout goes to a file, so no pipe keeps the
# script waiting on the process, and the pid in DEMO_PID is the demo's own.
#
# With READY (a function name), the demo counts as started once READY also succeeds, called
# with PORT set; it logs the start itself (grpc.sh looks up the gRPC port there). HINT is added
# to the error when the demo never got ready.
#
#   start_demo [READY [HINT]]
start_demo() {
  local ready=${1:-} hint=${2:-}
  taskset -c "$SERVER_CORE" "$STAMPEDE" demo --port 0 >"$TMP/demo.out" 2>"$TMP/demo.err" &
  DEMO_PID=$!
  register_pid "$DEMO_PID"
  local _ line
  for _ in $(seq 1 100); do
    line=$(head -n1 "$TMP/demo.out" 2>/dev/null || true)
    if [[ $line =~ listening\ on\ http://127\.0\.0\.1:([0-9]+) ]]; then
      PORT=${BASH_REMATCH[1]}
      if [[ -z $ready ]]; then
        log "demo target on 127.0.0.1:$PORT (pid $DEMO_PID, core $SERVER_CORE)"
        return 0
      fi
      "$ready" && return 0
    fi
    kill -0 "$DEMO_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/demo.err" >&2 || true
  die "the demo target did not start$hint"
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

# Runs one load generator pinned to CLIENT_CORE under GNU time: "<user> <sys> <maxrss_kb>" goes
# to $TMP/NAME.time, its output to $TMP/NAME.out and .err. A failure is logged (as WHO, with the
# last lines of its output), not fatal: the table still shows what the run reported.
#
#   run_pinned NAME WHO COMMAND...
run_pinned() {
  local name=$1 who=$2 status=0
  shift 2
  taskset -c "$CLIENT_CORE" "$TIME" -f "%U %S %M" -o "$TMP/$name.time" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" || status=$?
  if ((status != 0)); then
    log "$who exited with status $status; last lines of its output:"
    tail -n 5 "$TMP/$name.err" "$TMP/$name.out" >&2 || true
  fi
  return 0
}
