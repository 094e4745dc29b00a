#!/usr/bin/env bash
# Sticky load balancing, tested with real balancers (the README's "Scale-out" section
# shows the same configurations):
#   - nginx, `ip_hash` (clients connect from many 127.x.y.1 addresses, since ip_hash
#     hashes the first three octets);
#   - HAProxy, inserting its own cookie (`cookie SRV insert`);
#   - HAProxy, prefixing the server's `io` cookie (`cookie io prefix`, the server run
#     with --cookie).
# For each: three `echo_server` processes and the balancer on loopback ports, then the
# official JavaScript client (tests/interop/lb_clients.mjs) with a few hundred
# sessions, with the default transports (polling, then the upgrade to WebSocket) and
# polling only, all at once: every message must echo. Then one server is killed
# (SIGKILL): exactly its sessions end, with a reason, the others still echo, and new
# sessions open on the servers still alive.
#
# Installs nginx and haproxy (Debian packages) when missing; fails, never skips, when
# something cannot run. Loopback only. Takes about half a minute.
#
# Environment: SESSIONS (default 200, with the default transports), POLLING_SESSIONS
# (default 100, polling only), NODE (default: node on PATH), CARGO_TARGET_DIR.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

SESSIONS="${SESSIONS:-200}"
POLLING_SESSIONS="${POLLING_SESSIONS:-100}"
NEW_SESSIONS=30

say() { printf 'test-load-balancers: %s\n' "$*"; }
die() {
    printf 'test-load-balancers: FAILED: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- what it needs
install_debian() { # install_debian PACKAGE BINARY
    local package="$1" binary="$2"
    [[ -x "$binary" ]] && return 0
    say "installing Debian $package (apt-get)"
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "$binary is missing and we are neither root nor have sudo; install the '$package' package"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "$binary is missing and apt-get is not available; install $package"
    "${sudo[@]}" apt-get update -q >/dev/null || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null ||
        die "apt-get install $package failed"
    [[ -x "$binary" ]] || die "$package was installed but $binary does not exist"
}
install_debian nginx /usr/sbin/nginx
install_debian haproxy /usr/sbin/haproxy

NODE="${NODE:-$(command -v node || true)}"
[[ -n "$NODE" ]] || die "node not found on PATH (run scripts/setup-test-deps.sh)"
[[ -d node_modules/engine.io-client ]] || die "node_modules/engine.io-client missing (run scripts/setup-test-deps.sh)"

say "building examples/echo_server"
cargo build -q --example echo_server || die "cargo build --example echo_server failed"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
ECHO_SERVER="$target_dir/debug/examples/echo_server"
[[ -x "$ECHO_SERVER" ]] || die "$ECHO_SERVER not found after the build"

# ---------------------------------------------------------------- processes
work="$(mktemp -d -t engineio-lb.XXXXXX)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_WORK:-}" == 1 ]]; then
        say "logs kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

stop_pid() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

free_port() {
    "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_for_port() { # wait_for_port PORT WHAT
    local i
    for ((i = 0; i < 200; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    die "$2 does not accept connections on 127.0.0.1:$1"
}

# start_backends NAME [ECHO_SERVER FLAGS...]: three echo servers; sets backend_ports,
# backend_pids, backend_logs.
start_backends() {
    local name="$1"
    shift
    backend_ports=() backend_pids=() backend_logs=()
    local i log port
    for i in 1 2 3; do
        log="$work/$name-server$i.log"
        "$ECHO_SERVER" --addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
        pids+=($!)
        backend_pids+=($!)
        backend_logs+=("$log")
    done
    for i in 0 1 2; do
        port=""
        for ((t = 0; t < 200; t++)); do
            port="$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' "${backend_logs[$i]}")"
            [[ -n "$port" ]] && break
            sleep 0.05
        done
        [[ -n "$port" ]] || die "$name: echo_server $((i + 1)) did not start: $(cat "${backend_logs[$i]}")"
        backend_ports+=("$port")
    done
}

# The sids a server reported (`connect SID TRANSPORT` lines).
sids_of() {
    sed -n 's/^connect \([^ ]*\) .*/\1/p' "$1"
}

# ---------------------------------------------------------------- balancer configs
write_nginx_conf() { # write_nginx_conf FILE PORT
    local user_line=""
    [[ "$(id -u)" -eq 0 ]] && user_line="user root;"
    cat >"$1" <<EOF
# nginx in front of three Engine.IO servers, sticky by client address.
$user_line
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx-body;
    proxy_temp_path $work/nginx-proxy;
    fastcgi_temp_path $work/nginx-fastcgi;
    uwsgi_temp_path $work/nginx-uwsgi;
    scgi_temp_path $work/nginx-scgi;

    # WebSocket: pass the Upgrade on, and "Connection: upgrade" only with it.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream engineio {
        ip_hash;  # sticky: the same client address, the same server
        server 127.0.0.1:${backend_ports[0]} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:${backend_ports[1]} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:${backend_ports[2]} max_fails=1 fail_timeout=10s;
    }
    server {
        listen 127.0.0.1:$2;
        location /engine.io/ {
            proxy_pass http://engineio;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # Longer than ping interval + ping timeout (25 s + 20 s by default): a
            # long-poll or a quiet WebSocket must not be cut by the balancer.
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            # Long-poll responses and request bodies go through as they come.
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
EOF
}

write_haproxy_conf() { # write_haproxy_conf FILE PORT MODE (insert|prefix)
    local cookie_line
    if [[ "$3" == insert ]]; then
        # HAProxy's own cookie names the server.
        cookie_line="cookie SRV insert indirect nocache"
    else
        # The server's io cookie (echo_server --cookie), prefixed with the server's name.
        cookie_line="cookie io prefix nocache"
    fi
    cat >"$1" <<EOF
# HAProxy in front of three Engine.IO servers, sticky by cookie.
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    # Longer than ping interval + ping timeout (25 s + 20 s by default).
    timeout client 60s
    timeout server 60s
    # An upgraded WebSocket is a tunnel.
    timeout tunnel 60s
    option redispatch
    retries 2
frontend engineio_in
    bind 127.0.0.1:$2
    default_backend engineio
backend engineio
    balance roundrobin
    $cookie_line
    server s1 127.0.0.1:${backend_ports[0]} check inter 500ms fall 1 rise 2 cookie s1
    server s2 127.0.0.1:${backend_ports[1]} check inter 500ms fall 1 rise 2 cookie s2
    server s3 127.0.0.1:${backend_ports[2]} check inter 500ms fall 1 rise 2 cookie s3
EOF
}

# ---------------------------------------------------------------- one balancer
# run_case NAME BALANCER(nginx|haproxy-insert|haproxy-prefix)
run_case() {
    local name="$1" kind="$2"
    local start=$SECONDS
    local server_flags=() client_flags=()
    case "$kind" in
    nginx) client_flags=(--spread-addresses) ;;
    haproxy-insert) client_flags=(--cookies) ;;
    haproxy-prefix) client_flags=(--cookies) server_flags=(--cookie) ;;
    esac
    start_backends "$name" "${server_flags[@]}"
    local port conf balancer_pid
    port="$(free_port)"
    if [[ "$kind" == nginx ]]; then
        conf="$work/$name.conf"
        mkdir -p "$work/nginx-body" "$work/nginx-proxy"
        write_nginx_conf "$conf" "$port"
        /usr/sbin/nginx -t -q -c "$conf" -p "$work" 2>"$work/$name-check.log" ||
            die "$name: nginx refuses the configuration: $(cat "$work/$name-check.log")"
        /usr/sbin/nginx -c "$conf" -p "$work" >"$work/$name.log" 2>&1 &
    else
        conf="$work/$name.cfg"
        write_haproxy_conf "$conf" "$port" "${kind#haproxy-}"
        /usr/sbin/haproxy -c -q -f "$conf" >"$work/$name-check.log" 2>&1 ||
            die "$name: haproxy refuses the configuration: $(cat "$work/$name-check.log")"
        /usr/sbin/haproxy -db -f "$conf" >"$work/$name.log" 2>&1 &
    fi
    balancer_pid=$!
    pids+=("$balancer_pid")
    wait_for_port "$port" "$name"

    local url="http://127.0.0.1:$port" go="$work/$name.go"
    local out_default="$work/$name-clients-default.out" out_polling="$work/$name-clients-polling.out"
    "$NODE" tests/interop/lb_clients.mjs "$url" --sessions "$SESSIONS" --new-sessions "$NEW_SESSIONS" \
        --go-file "$go" "${client_flags[@]}" >"$out_default" 2>&1 &
    local default_pid=$!
    "$NODE" tests/interop/lb_clients.mjs "$url" --sessions "$POLLING_SESSIONS" --transports polling \
        --new-sessions "$NEW_SESSIONS" --go-file "$go" "${client_flags[@]}" >"$out_polling" 2>&1 &
    local polling_pid=$!
    pids+=("$default_pid" "$polling_pid")

    # Every session open and echoing (and upgraded, with the default transports).
    local t out
    for out in "$out_default" "$out_polling"; do
        for ((t = 0; t < 1200; t++)); do
            grep -q '"phase":"ready"' "$out" 2>/dev/null && break
            grep -q '"ok":false' "$out" 2>/dev/null && die "$name: $(tail -c 2000 "$out")"
            sleep 0.05
        done
        grep -q '"phase":"ready"' "$out" || die "$name: the clients were not ready within 60 s: $(tail -c 2000 "$out")"
    done
    local i counts=() total=0 n
    for i in 0 1 2; do
        n="$(sids_of "${backend_logs[$i]}" | wc -l)"
        counts+=("$n")
        total=$((total + n))
    done
    say "$name: $((SESSIONS + POLLING_SESSIONS)) sessions echo through the balancer (per server: ${counts[*]}; $(grep -o '"transports":{[^}]*}' "$out_default"))"
    ((total == SESSIONS + POLLING_SESSIONS)) ||
        die "$name: the servers report $total sessions, not $((SESSIONS + POLLING_SESSIONS))"
    for i in 0 1 2; do
        ((counts[i] > 0)) || die "$name: server $((i + 1)) got no session (per server: ${counts[*]})"
    done

    # Kill server 2: its sessions must end, and only those.
    stop_pid "${backend_pids[1]}"
    sids_of "${backend_logs[1]}" >"$go.tmp"
    mv "$go.tmp" "$go"
    local failed=0
    wait "$default_pid" || failed=1
    wait "$polling_pid" || failed=1
    if ((failed)); then
        die "$name: after killing server 2 (${counts[1]} sessions):
--- default transports ---
$(tail -c 3000 "$out_default")
--- polling ---
$(tail -c 3000 "$out_polling")"
    fi
    # The new sessions are on servers 1 and 3.
    local fresh
    fresh="$(cat "$out_default" "$out_polling" | grep '"ok":true' | grep -o '"fresh":\[[^]]*\]' | grep -o '"[^",]*"' | grep -v fresh | tr -d '"' | sort)"
    local on_live
    on_live="$( (sids_of "${backend_logs[0]}" && sids_of "${backend_logs[2]}") | sort)"
    [[ "$(printf '%s\n' "$fresh" | wc -l)" -eq $((2 * NEW_SESSIONS)) ]] || die "$name: expected $((2 * NEW_SESSIONS)) new sessions: $fresh"
    [[ -z "$(comm -23 <(printf '%s\n' "$fresh") <(printf '%s\n' "$on_live"))" ]] ||
        die "$name: new sessions not on the live servers"
    say "$name: killed server 2: its ${counts[1]} sessions ended ($(grep -h -o '"reasons":{[^}]*}' "$out_default" "$out_polling" | tr '\n' ' ')), the others still echo, $((2 * NEW_SESSIONS)) new sessions on servers 1 and 3 ($((SECONDS - start)) s)"

    stop_pid "$default_pid"
    stop_pid "$polling_pid"
    stop_pid "$balancer_pid"
    for i in 0 2; do
        stop_pid "${backend_pids[$i]}"
    done
}

say "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's#.*/##'), HAProxy $(/usr/sbin/haproxy -v | head -1 | awk '{print $3}'), $SESSIONS + $POLLING_SESSIONS sessions per balancer"
run_case nginx-ip-hash nginx
run_case haproxy-cookie-insert haproxy-insert
run_case haproxy-io-cookie-prefix haproxy-prefix
say "all balancers passed"
