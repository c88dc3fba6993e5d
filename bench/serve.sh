#!/usr/bin/env bash
# mailconf serve against automx2 under gunicorn: the one command.
#
#   bench/serve.sh [--rounds N] [--seconds S] [--quick]
#
# Needs the Rust toolchain, python3 (with venv), wrk and htpasswd (installed with apt when
# missing). It
#   1. builds mailconf in release mode, and oha (a load generator with a fixed request rate) into
#      target/bench-tools once,
#   2. installs automx2 and gunicorn into target/bench-venv (once),
#   3. runs bench/serve_bench.py, which writes bench/serve-results.md and
#      target/bench/serve-results.json (with the IT-staff page's memory, bench/serve_admin.py,
#      which needs htpasswd from apache2-utils, installed with apt when missing).
# Both servers listen on 127.0.0.1 only; every load is bounded in time.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=target/bench-venv
TOOLS=target/bench-tools

echo "[serve-bench] building mailconf (release)" >&2
cargo build --release --quiet --bin mailconf

if ! command -v wrk >/dev/null 2>&1; then
    echo "[serve-bench] installing wrk with apt" >&2
    apt-get update -qq && apt-get install -y -qq wrk
fi
if [[ ! -x "$TOOLS/bin/oha" ]]; then
    echo "[serve-bench] installing oha from crates.io into $TOOLS (once)" >&2
    cargo install --quiet --locked --root "$TOOLS" oha@^1
fi
if ! command -v openssl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq openssl
fi
if ! command -v htpasswd >/dev/null 2>&1; then
    echo "[serve-bench] installing apache2-utils (htpasswd) with apt" >&2
    apt-get update -qq && apt-get install -y -qq apache2-utils
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV" || {
        apt-get update -qq && apt-get install -y -qq python3-venv
        python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install --quiet --upgrade pip
fi
if ! "$VENV/bin/python" -c 'import automx2, gunicorn' 2>/dev/null; then
    echo "[serve-bench] installing automx2 and gunicorn into $VENV" >&2
    "$VENV/bin/pip" install --quiet "automx2==2026.2" "gunicorn==23.0.0"
fi

exec python3 bench/serve_bench.py --oha "$TOOLS/bin/oha" --venv "$VENV" "$@"
