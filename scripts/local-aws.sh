#!/usr/bin/env bash
# Local AWS emulator (moto) for the integration tests.
#
#   scripts/local-aws.sh install        project-local .venv with the pinned moto
#   scripts/local-aws.sh start          long-running emulator (reused if already up)
#   scripts/local-aws.sh stop           stop the emulator started by `start`
#   scripts/local-aws.sh env            export lines for the running emulator:
#                                         eval "$(scripts/local-aws.sh env)"
#   scripts/local-aws.sh run -- CMD...  CMD against a fresh private emulator,
#                                         stopped afterwards; exits with CMD's code
#
# The emulator is scripts/moto_server_locked.py: moto serving one request at a
# time, so conditional writes behave atomically as they do on AWS.
set -euo pipefail

LOG_TAG=local-aws
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
MOTO_VERSION="5.2.5"
SERVER="$ROOT/scripts/moto_server_locked.py"
READY_TIMEOUT_S=15

moto_installed() {
    [[ -x "$PY" ]] && "$PY" - "$MOTO_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
import flask, flask_cors, werkzeug  # the [server] extra
sys.exit(0 if version("moto") == sys.argv[1] else 1)
EOF
}

cmd_install() {
    moto_installed && return 0
    take_lock install
    if ! moto_installed; then
        ensure_venv
        log "installing moto[server]==$MOTO_VERSION into $VENV"
        "$PY" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" ||
            die "pip install moto[server]==$MOTO_VERSION failed"
        moto_installed || die "moto $MOTO_VERSION still not importable from $PY"
    fi
    release_lock
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

answers_http() {
    "$PY" - "$1" >/dev/null 2>&1 <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2).read()
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
EOF
}

# True when PID is alive and really is our emulator, so a recycled PID is never
# mistaken for it (or killed).
is_our_server() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "moto_server_locked.py" || return 1
    fi
}

# Prints the port of the emulator recorded in DIR if it is alive and answering.
running_port() {
    local dir="$1" pid port
    [[ -f "$dir/moto.pid" && -f "$dir/moto.port" ]] || return 1
    pid="$(cat "$dir/moto.pid")"
    port="$(cat "$dir/moto.port")"
    is_our_server "$pid" && answers_http "$port" && printf '%s\n' "$port"
}

# Starts an emulator whose pid/port/log live in DIR; prints its port.
start_server() {
    local dir="$1" pid port attempt waited
    mkdir -p "$dir"
    if port="$(running_port "$dir")"; then
        log "reusing emulator already running on port $port (pid $(cat "$dir/moto.pid"))"
        printf '%s\n' "$port"
        return 0
    fi
    stop_server "$dir" quiet
    # The free port can be taken between probing and binding; a fresh one is
    # tried when the server dies at once.
    for attempt in 1 2 3; do
        port="$(free_port)"
        # fd 9 (the start lock) is closed so the server does not hold it.
        "$PY" "$SERVER" --host 127.0.0.1 --port "$port" </dev/null >"$dir/moto.log" 2>&1 9>&- &
        pid=$!
        printf '%s\n' "$pid" >"$dir/moto.pid"
        printf '%s\n' "$port" >"$dir/moto.port"
        waited=0
        while ((waited < READY_TIMEOUT_S * 5)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if answers_http "$port"; then
                log "emulator (moto $MOTO_VERSION) up on port $port, pid $pid, log $dir/moto.log"
                printf '%s\n' "$port"
                return 0
            fi
            sleep 0.2
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "error: emulator did not answer on 127.0.0.1:$port within ${READY_TIMEOUT_S}s; last log lines:"
            tail -n 30 "$dir/moto.log" >&2 || true
            stop_server "$dir" quiet
            exit 1
        fi
        if ! grep -q "Address already in use" "$dir/moto.log"; then
            break
        fi
        log "port $port was taken meanwhile (attempt $attempt), retrying"
    done
    log "error: emulator exited during startup; last log lines of $dir/moto.log:"
    tail -n 30 "$dir/moto.log" >&2 || true
    rm -f "$dir/moto.pid" "$dir/moto.port"
    exit 1
}

stop_server() {
    local dir="$1" mode="${2:-}" pid
    if [[ ! -f "$dir/moto.pid" ]]; then
        [[ "$mode" == quiet ]] || log "no emulator recorded in $dir"
        rm -f "$dir/moto.port"
        return 0
    fi
    pid="$(cat "$dir/moto.pid")"
    if is_our_server "$pid"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for 5s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        [[ "$mode" == quiet ]] || log "stopped emulator pid $pid"
    else
        [[ "$mode" == quiet ]] || log "emulator pid $pid was not running; cleaning up"
    fi
    rm -f "$dir/moto.pid" "$dir/moto.port"
}

print_env() {
    local port="$1"
    cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
EOF
}

cmd_start() {
    local port
    cmd_install
    take_lock start
    port="$(start_server "$STATE_DIR")"
    release_lock
    printf 'AWS_ENDPOINT_URL=http://127.0.0.1:%s\n' "$port"
}

cmd_stop() {
    take_lock start
    stop_server "$STATE_DIR"
    release_lock
}

cmd_env() {
    local port
    port="$(running_port "$STATE_DIR")" ||
        die "no emulator running; start one with: make aws-up (or scripts/local-aws.sh start)"
    print_env "$port"
}

PRIVATE_DIR=""
cleanup_private() {
    if [[ -n "$PRIVATE_DIR" ]]; then
        stop_server "$PRIVATE_DIR" quiet
        rm -rf "$PRIVATE_DIR"
        PRIVATE_DIR=""
    fi
}

cmd_run() {
    [[ "${1:-}" == "--" ]] && shift
    (($# > 0)) || die "usage: scripts/local-aws.sh run -- CMD [ARGS...]"
    local port rc
    cmd_install
    PRIVATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/local-aws.XXXXXX")"
    trap cleanup_private EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    port="$(start_server "$PRIVATE_DIR")"
    eval "$(print_env "$port")"
    # Settings that would send requests elsewhere or sign them differently.
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
    unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_SQS \
        AWS_ENDPOINT_URL_SESV2 AWS_ENDPOINT_URL_SES
    set +e
    "$@"
    rc=$?
    set -e
    exit "$rc"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
