#!/usr/bin/env bash
# The benchmark in one command: installs what it needs, builds the load generator and
# the Rust contenders (release), runs every scenario against every contender (about
# 20 minutes; --quick: 2-3 minutes), and writes bench/results/<date>-<mode>.{json,md,svg}.
# A full run also puts the table and chart into README.md (## Benchmarks).
#
#   bench/run.sh [--quick] [--contenders ours,node,...] [--scenarios idle,...]
#                [--ours-bin PATH]        (any other eio-bench flag; see bench/README.md)
#
# Environment: CARGO_TARGET_DIR (default ./target), EIO_BENCH_SKIP_SETUP=1 to skip
# the installs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

say() { printf 'bench/run.sh: %s\n' "$*"; }

if [[ "${EIO_BENCH_SKIP_SETUP:-}" != 1 ]]; then
    # Node.js peers (engine.io, ws, bufferutil; pinned in package-lock.json) and the
    # test venv: the repository's own set-up script, idempotent.
    bash scripts/setup-test-deps.sh

    # The python-engineio contender's venv (python-engineio, simple-websocket,
    # werkzeug; pinned in bench/requirements.txt).
    venv="bench/.venv"
    stamp="$venv/.requirements.sha256"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    want="$( (sha256sum bench/requirements.txt && "$venv/bin/python" -V 2>&1) | sha256sum | cut -d' ' -f1)"
    if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
        say "installing bench/requirements.txt into $venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r bench/requirements.txt
        printf '%s\n' "$want" >"$stamp"
    fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo_root/target}"
say "building the load generator and the Rust contenders (release)"
cargo build --release -p eio-bench

readme=(--readme)
for arg in "$@"; do
    case "$arg" in
    --quick | --contenders | --scenarios) readme=() ;;
    esac
done
exec "$CARGO_TARGET_DIR/release/eio-bench" all "${readme[@]}" "$@"
