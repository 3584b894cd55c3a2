#!/usr/bin/env bash
# Runs every test stampede has. Installs what the tests need when it is missing, so that a
# fresh machine needs nothing but this script (and Rust).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build artefacts are kept outside the clone so CI runs in fresh clones reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stampede-target}"

need_apt=()
# (Later issues add packages here: chromium for the HTML report, prometheus for remote write.)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  fi
fi

cargo test --workspace --locked "$@"
