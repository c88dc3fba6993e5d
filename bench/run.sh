#!/usr/bin/env bash
# mailconf performance benchmark: the one command.
#
#   bench/run.sh [--quick] [--sizes 1000,10000] [--peer-max-reps-100k K]
#
# Needs only the Rust toolchain and python3 (with venv). It
#   1. builds mailconf, the deflate-floor and signing-cost programs in release mode,
#   2. installs automx2 into target/bench-venv (once),
#   3. runs bench/bench.py, which writes bench/results.md and target/bench/results.json.
# Generated rosters and zips go to target/bench/ (ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=target/bench-venv

echo "[bench] building mailconf and the floor program (release)" >&2
cargo build --release --quiet --bin mailconf --example deflate_floor --example sign_cost

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import automx2' 2>/dev/null; then
    echo "[bench] creating $VENV with automx2 from PyPI" >&2
    if ! python3 -m venv "$VENV"; then
        # Debian/Ubuntu ship venv separately.
        echo "[bench] python3 -m venv failed; installing python3-venv with apt" >&2
        rm -rf "$VENV"
        apt-get update -qq && apt-get install -y -qq python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --upgrade pip
    # Pinned: automx2_peer.py uses its generator classes, which are not a public API.
    "$VENV/bin/pip" install --quiet "automx2==2026.2"
fi

exec python3 bench/bench.py "$@"
