#!/usr/bin/env bash
# Installs everything the interop tests need, and nothing twice:
#   - the Node.js peers (official engine.io / engine.io-client 6.x, and 3.x under
#     the aliases engine.io-v3 / engine.io-client-v3; playwright-core)
#     from package-lock.json into ./node_modules  (npm ci)
#   - the Python peers (python-engineio and friends) from requirements-test.txt
#     into ./.venv, and python-engineio 3.14 (Engine.IO v3) from
#     requirements-test-v3.txt into ./.venv-v3
#   - Debian's chromium at /usr/bin/chromium, driven by playwright-core for the
#     browser tests
#   - Debian's tmux, the pseudo-terminal the command-line tool's interactive tests
#     type into (cli/tests/interactive.rs)
#   - Debian's redis-server (the cluster tests), nginx and haproxy (the load-balancer
#     test, scripts/test-load-balancers.sh)
# Idempotent: when everything is present and up to date it only checks and exits.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

say() { printf 'setup-test-deps: %s\n' "$*"; }
die() {
    printf 'setup-test-deps: ERROR: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- prerequisites
missing=()
for tool in node npm python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    die "required tool(s) not found on PATH: ${missing[*]} (install Node.js >= 18 with npm, and Python >= 3.8)"
fi

# ---------------------------------------------------------------- node packages
# npm ci rewrites node_modules/.package-lock.json, so its mtime tells when the
# tree was last installed from the lock file.
npm_stamp="node_modules/.package-lock.json"
if [[ ! -d node_modules/engine.io-client || ! -d node_modules/engine.io ||
    ! -d node_modules/engine.io-client-v3 || ! -d node_modules/engine.io-v3 || ! -f "$npm_stamp" ||
    package-lock.json -nt "$npm_stamp" || package.json -nt "$npm_stamp" ]]; then
    say "installing Node.js packages (npm ci)"
    npm ci --no-audit --no-fund || die "npm ci failed"
    touch "$npm_stamp"
else
    say "Node.js packages up to date"
fi

# ---------------------------------------------------------------- python venvs
# install_venv DIR REQUIREMENTS: creates DIR when needed and installs REQUIREMENTS
# into it, unless the same file was already installed with the same interpreter.
install_venv() {
    local venv="$1" requirements="$2"
    local stamp="$venv/.$(basename "$requirements" .txt).sha256"
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating Python virtualenv in $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" ||
            die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    local want_hash have_hash
    want_hash="$( (sha256sum "$requirements" && "$venv/bin/python" -V 2>&1) | sha256sum | cut -d' ' -f1)"
    have_hash="$(cat "$stamp" 2>/dev/null || true)"
    if [[ "$want_hash" != "$have_hash" ]]; then
        say "installing Python packages ($requirements into $venv)"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" ||
            die "pip install -r $requirements failed"
        printf '%s\n' "$want_hash" >"$stamp"
    else
        say "Python packages in $venv up to date"
    fi
}

# python-engineio 4.x (Engine.IO v4) and, apart, 3.14 (Engine.IO v3): the two
# cannot share a venv.
install_venv .venv requirements-test.txt
install_venv .venv-v3 requirements-test-v3.txt

# ---------------------------------------------------------------- Debian packages
# apt_install PACKAGE WHAT: installs a Debian package (as root, or through sudo);
# WHAT says what is missing, for the error message.
apt_install() {
    local package="$1" what="$2" sudo
    if [[ "$(id -u)" -eq 0 ]]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        die "$what is missing and we are neither root nor have sudo; install the '$package' package"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "$what is missing and apt-get is not available; install '$package'"
    if [[ -z "${apt_updated:-}" ]]; then
        "${sudo[@]}" apt-get update -q || die "apt-get update failed"
        apt_updated=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" ||
        die "apt-get install $package failed"
}

# ---------------------------------------------------------------- chromium
if [[ ! -x /usr/bin/chromium ]]; then
    say "installing Debian chromium (apt-get)"
    apt_install chromium /usr/bin/chromium
    [[ -x /usr/bin/chromium ]] || die "chromium was installed but /usr/bin/chromium does not exist"
else
    say "chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
fi

# ---------------------------------------------------------------- tmux
if ! command -v tmux >/dev/null 2>&1; then
    say "installing Debian tmux (apt-get)"
    apt_install tmux tmux
    command -v tmux >/dev/null 2>&1 || die "tmux was installed but is not on PATH"
else
    say "tmux present ($(tmux -V))"
fi

# ---------------------------------------------------------------- redis, nginx, haproxy
# Debian packages for the cluster tests (tests/cluster.rs) and the load-balancer
# test. Installing them does not start their services (policy-rc.d or no init);
# the tests start their own instances on loopback ports.
for pair in redis-server:/usr/bin/redis-server nginx:/usr/sbin/nginx haproxy:/usr/sbin/haproxy; do
    package="${pair%%:*}" binary="${pair#*:}"
    if [[ ! -x "$binary" ]]; then
        say "installing Debian $package (apt-get)"
        apt_install "$package" "$binary"
        [[ -x "$binary" ]] || die "$package was installed but $binary does not exist"
    else
        say "$package present"
    fi
done

say "all test dependencies present"
