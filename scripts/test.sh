#!/usr/bin/env bash
# Runs every test stampede has. Installs what the tests need when it is missing, so that a
# fresh machine needs nothing but this script (and Rust).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build artefacts are kept outside the clone so CI runs in fresh clones reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stampede-target}"

need_apt=()
# (Later issues add packages here: prometheus for remote write.)
# The HTML report is tested in a real headless Chromium (crates/report/tests/html.rs).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  fi
fi

# The browser tests skip without Chromium unless this is set: here they must run.
export STAMPEDE_REQUIRE_CHROMIUM=1

# JUnit output is read back by an independent parser: Python's junitparser, from PyPI.
python3 -c 'import junitparser' 2>/dev/null || python3 -m pip install --quiet junitparser
# WebSocket interop runs against an echo server on Python's websockets (crates/cli/tests/ws.rs).
python3 -c 'import websockets.asyncio.server' 2>/dev/null || python3 -m pip install --quiet 'websockets>=13'
# gRPC interop runs against a Python grpcio server, called through reflection only
# (crates/grpc/tests/interop.rs).
python3 -c 'import grpc, grpc_reflection, grpc_health' 2>/dev/null \
  || python3 -m pip install --quiet grpcio grpcio-reflection grpcio-health-checking
# `stampede import har` is tested on a HAR recorded by the Chromium above, driven by Playwright
# (crates/cli/tests/tooling.rs); its bundled driver is used, never its browser downloads.
python3 -c 'import playwright.sync_api' 2>/dev/null || python3 -m pip install --quiet playwright
export STAMPEDE_REQUIRE_PY=1

# Runs started by tests (crates/cli/tests/e2e.rs does not choose a history database) must not
# record into .stampede/ in the source tree.
history_dir="$(mktemp -d)"
trap 'rm -rf "$history_dir"' EXIT
export STAMPEDE_HISTORY_DB="${STAMPEDE_HISTORY_DB:-$history_dir/history.db}"

# Every test binary prints its own "test result" line; the last of them may be a crate's
# (empty) doc tests, so close with the totals of the whole run.
log="$(mktemp)"
trap 'rm -rf "$history_dir" "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ {
  for (i = 1; i <= NF; i++) {
    if ($(i + 1) ~ /^passed/) p += $i
    if ($(i + 1) ~ /^failed/) f += $i
  }
} END { printf "\n%d passed, %d failed\n", p, f }' "$log"
exit "$status"
