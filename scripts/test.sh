#!/usr/bin/env bash
# The README's test command: installs the interop peers, then runs formatting,
# lints, docs, every test (interop included; they must not skip) and the
# feature combinations. Exits non-zero on the first failure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

section() {
    printf '\n==================== %s ====================\n' "$*"
}

run() {
    section "$*"
    local start=$SECONDS
    if ! "$@"; then
        printf '\ntest.sh: FAILED: %s\n' "$*" >&2
        exit 1
    fi
    printf 'test.sh: ok (%ss): %s\n' "$((SECONDS - start))" "$*"
}

run bash scripts/setup-test-deps.sh

ENGINEIO_NODE="$(command -v node)"
export ENGINEIO_REQUIRE_INTEROP=1
export ENGINEIO_NODE
export ENGINEIO_PYTHON="$repo_root/.venv/bin/python"
export ENGINEIO_PYTHON_V3="$repo_root/.venv-v3/bin/python"
export ENGINEIO_CHROMIUM=/usr/bin/chromium
export ENGINEIO_REPO="$repo_root"
export ENGINEIO_REDIS_SERVER=/usr/bin/redis-server

run cargo fmt --all -- --check
run python3 scripts/check-msrv.py
run cargo clippy --all-targets -- -D warnings
run env RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps
run cargo test --all-targets
run cargo test --features tls --test client_tls --test client_mtls --test client_tls_cli --test client_proxy_env --test server_tls --test interop_tls
run cargo test --doc
# The cluster (feature redis): unit and doc tests, and tests against a real redis-server.
run cargo test --features redis --lib server::cluster
run cargo test --features redis --doc cluster
run cargo test --features redis --test cluster
# Each feature set alone, warnings denied (dead code shows up per feature set).
run cargo clippy --no-default-features -- -D warnings
run cargo clippy --no-default-features --features server -- -D warnings
run cargo clippy --no-default-features --features server,redis -- -D warnings
run cargo clippy --no-default-features --features client -- -D warnings
run cargo clippy --all-targets --all-features -- -D warnings
run env RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --all-features
# Sticky sessions behind real nginx and HAProxy, three server processes each.
run bash scripts/test-load-balancers.sh
# The workspace members: the command-line tool (cli/, its end-to-end tests drive the
# built binary against ours, Node, Chromium, and through tmux), the load generator it
# shares with the benchmark (load/), and the benchmark harness (bench/: lint and unit
# tests, no benchmark run).
run bash scripts/check-package.sh
run cargo clippy --all-targets -p engineio-cli -p eio-load -p eio-bench -- -D warnings
run cargo test -p eio-load
run cargo test -p eio-bench
run cargo test -p engineio-cli

section "all checks passed"
