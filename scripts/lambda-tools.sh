#!/usr/bin/env bash
# Build, run and deploy the Lambda functions with cargo-lambda and SAM CLI.
#
#   scripts/lambda-tools.sh install            cargo-lambda (PyPI wheel, with Zig) into .venv,
#                                                and the aarch64 Rust target
#   scripts/lambda-tools.sh build [FN...]      release build: target/lambda/<fn>/bootstrap
#                                                (ARCH=arm64 default, ARCH=x86_64 for Intel)
#   scripts/lambda-tools.sh setup-local        in the local emulator (started if needed): the
#                                                tables, streams, queue and SES identity, and the
#                                                stock events/inventory-update/ expects
#                                                (RESET_STOCK=1 puts that stock back)
#   scripts/lambda-tools.sh env                export lines of the functions' variables for the
#                                                emulator: eval "$(scripts/lambda-tools.sh env)"
#   scripts/lambda-tools.sh invoke FN EVENT    FN on the sample EVENT (a KinesisEvent JSON file)
#                                                through `cargo lambda watch`/`invoke` against
#                                                the emulator; prints the function's log, its
#                                                response and the emulator's state after it
#                                                (LOCAL_TIMEOUT_S=30: the invocation's deadline)
#   scripts/lambda-tools.sh local-state        stock, sagas, stream records, sent mail and
#                                                dead letters in the emulator
#   scripts/lambda-tools.sh sam-build          sam build (SAM CLI in .local/sam-cli)
#   scripts/lambda-tools.sh deploy [--dry-run] [ARGS...]
#                                              sam build, then sam deploy with no prompt:
#                                                parameters from DEPLOY_PARAMS="K=V ..." and
#                                                the saved answers (--dry-run: print the command)
#   scripts/lambda-tools.sh deploy-guided [ARGS...]
#                                              sam build, then sam deploy --guided ARGS
#
# cargo-lambda comes from its PyPI wheel, which brings Zig (the `ziglang`
# wheel) for cross-compiling: a few seconds, where `cargo install cargo-lambda`
# compiles for over twenty minutes. It lives in .venv next to moto and
# cfn-lint; .venv/bin goes first on PATH so cargo-lambda finds Zig.
set -euo pipefail

LOG_TAG=lambda-tools
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
AARCH64_TARGET="aarch64-unknown-linux-gnu"
# The deployed functions, from their descriptors (functions.json, kept
# current by a Rust test).
mapfile -t FUNCTIONS < <(python3 -c 'import json, sys; [print(f["name"]) for f in json.load(open(sys.argv[1]))["functions"]]' "$ROOT/functions.json")

is_function() {
    local fn
    for fn in "${FUNCTIONS[@]}"; do
        [[ "$fn" == "$1" ]] && return 0
    done
    return 1
}

# ------------------------------------------------------------------ install

cargo_lambda_installed() {
    [[ -x "$VENV/bin/cargo-lambda" ]] &&
        [[ "$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null)" == *" $CARGO_LAMBDA_VERSION"* ]]
}

# cargo-lambda's wheel wants Zig without naming a version; the pin keeps every
# machine on the one that was tried.
ziglang_installed() {
    [[ -x "$PY" ]] && "$PY" - "$ZIGLANG_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if version("ziglang") == sys.argv[1] else 1)
EOF
}

aarch64_target_installed() {
    rustup target list --installed 2>/dev/null | grep -qx "$AARCH64_TARGET"
}

cmd_install() {
    local out
    normalize_arch
    if ! { cargo_lambda_installed && ziglang_installed; }; then
        take_lock install
        if ! { cargo_lambda_installed && ziglang_installed; }; then
            ensure_venv
            log "installing cargo-lambda==$CARGO_LAMBDA_VERSION and ziglang==$ZIGLANG_VERSION into .venv"
            "$PY" -m pip install --quiet --disable-pip-version-check \
                "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION" ||
                die "pip install cargo-lambda==$CARGO_LAMBDA_VERSION failed"
            cargo_lambda_installed || die "cargo-lambda $CARGO_LAMBDA_VERSION is still not runnable from $VENV/bin"
            if ! out="$("$PY" -m pip check --disable-pip-version-check 2>&1)"; then
                printf '%s\n' "$out" >&2
                die "pip check found broken requirements in .venv after installing cargo-lambda"
            fi
        fi
        release_lock
    fi
    if [[ "$ARCH" == arm64 ]] && ! aarch64_target_installed; then
        command -v rustup >/dev/null 2>&1 ||
            die "rustup not found: install the $AARCH64_TARGET standard library for your toolchain"
        log "adding Rust target $AARCH64_TARGET"
        rustup target add "$AARCH64_TARGET" >&2 || die "rustup target add $AARCH64_TARGET failed"
    fi
}

# cargo-lambda finds Zig (and cargo-zigbuild's helpers) on PATH.
with_venv_path() {
    export PATH="$VENV/bin:$PATH"
}

# ------------------------------------------------------------------ build

# ARCH names the template's Architecture values; a few common spellings are
# accepted. `none`: the caller needs no cross-compilation target.
normalize_arch() {
    case "${ARCH:-arm64}" in
    arm64 | aarch64) ARCH=arm64 ;;
    x86_64 | x86-64 | amd64) ARCH=x86_64 ;;
    none) ;;
    *) die "ARCH must be arm64 or x86_64, not '${ARCH}'" ;;
    esac
}

cmd_build() {
    local fns=("$@") fn packages=() flag start elapsed size rc stamp failed=()
    ((${#fns[@]} > 0)) || fns=("${FUNCTIONS[@]}")
    for fn in "${fns[@]}"; do
        is_function "$fn" || die "unknown function '$fn' (one of: ${FUNCTIONS[*]})"
        packages+=(-p "$fn")
    done
    normalize_arch
    flag=--arm64
    [[ "$ARCH" == x86_64 ]] && flag=--x86-64
    cmd_install
    with_venv_path
    cd "$ROOT"
    mkdir -p "$STATE_DIR"
    stamp="$STATE_DIR/build.stamp"
    touch "$stamp"
    log "cargo lambda build --release $flag ${packages[*]}"
    start=$SECONDS
    # --keep-going: a function that does not compile yet does not stop the others.
    set +e
    cargo lambda build --release "$flag" --keep-going "${packages[@]}"
    rc=$?
    set -e
    elapsed=$((SECONDS - start))
    printf '\nbuild (%s) took %dm%02ds:\n' "$ARCH" $((elapsed / 60)) $((elapsed % 60))
    for fn in "${fns[@]}"; do
        if [[ -f "target/lambda/$fn/bootstrap" && "target/lambda/$fn/bootstrap" -nt "$stamp" ]] ||
            { ((rc == 0)) && [[ -f "target/lambda/$fn/bootstrap" ]]; }; then
            size="$(stat -c %s "target/lambda/$fn/bootstrap")"
            printf '  target/lambda/%-28s %9d bytes  %5.2f MB\n' "$fn/bootstrap" "$size" \
                "$(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1048576 }')"
        else
            printf '  target/lambda/%-28s NOT BUILT\n' "$fn/bootstrap"
            failed+=("$fn")
        fi
    done
    rm -f "$stamp"
    if ((rc != 0)); then
        die "cargo lambda build failed (exit $rc)${failed[*]:+; not built: ${failed[*]}}"
    fi
}

# ------------------------------------------------------------------ local runs

LOCAL_AWS="$ROOT/scripts/local-aws.sh"
HELPER="$ROOT/scripts/lambda_local.py"
WATCH_LOG="$STATE_DIR/watch.log"
WATCH_READY_TIMEOUT_S=60

# Starts the long-running emulator if needed and exports its endpoint and
# test credentials.
use_emulator() {
    local out
    if ! out="$("$LOCAL_AWS" start 2>&1 >/dev/null)"; then
        printf '%s\n' "$out" >&2
        die "could not start the local emulator"
    fi
    # Said only when it was started now, not when it was already up.
    grep -v 'reusing emulator' <<<"$out" >&2 || true
    eval "$("$LOCAL_AWS" env)"
    # Settings that would send requests elsewhere or sign them differently.
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_KINESIS \
        AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_SESV2 AWS_ENDPOINT_URL_SES
}

cmd_setup_local() {
    use_emulator
    "$PY" "$HELPER" setup
    log "local resources ready at $AWS_ENDPOINT_URL"
}

cmd_env() {
    local file
    use_emulator
    "$PY" "$HELPER" setup 2>/dev/null
    file="$(mktemp "$STATE_DIR/lambda-env.XXXXXX")"
    "$PY" "$HELPER" env-file "$file"
    sed 's/^/export /' "$file"
    rm -f "$file"
}

cmd_local_state() {
    use_emulator
    "$PY" "$HELPER" state
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# True when something accepts connections on the port. (Not an HTTP probe: a
# GET on watch's root is an invocation, which waits for a function.)
listening() {
    "$PY" - "$1" >/dev/null 2>&1 <<'PYEOF'
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
PYEOF
}

# The processes of one local invoke, each started in its own process group
# (setsid) so that stopping one also stops what it started.
LOCAL_PIDS=()
ENV_FILE=""
RESPONSE_FILE=""
stop_local() {
    local pid
    for pid in "${LOCAL_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for pid in "${LOCAL_PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    LOCAL_PIDS=()
    rm -f "$ENV_FILE" "$RESPONSE_FILE"
    ENV_FILE=""
    RESPONSE_FILE=""
}

# Waits until something listens on PORT, while PID lives.
wait_http() {
    local port="$1" pid="$2" what="$3" waited=0
    until listening "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$WATCH_LOG" >&2
            die "$what exited; the end of ${WATCH_LOG#"$ROOT"/} is above"
        fi
        ((waited < WATCH_READY_TIMEOUT_S * 5)) || die "$what did not answer on port $port"
        sleep 0.2
        waited=$((waited + 1))
    done
}

same_json() {
    "$PY" - "$1" "$2" >/dev/null 2>&1 <<'PYEOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as a, open(sys.argv[2], encoding="utf-8") as b:
    sys.exit(0 if json.load(a) == json.load(b) else 1)
PYEOF
}

# `cargo lambda watch` is the Lambda emulator here (runtime API and invoke
# endpoint), started with --only-lambda-apis; the function, built first, is
# started by this script and reaches watch through scripts/lambda_local.py's
# runtime proxy, which gives each invocation a real deadline (watch's own is
# in 1970, see there). The function's variables come from an env file.
cmd_invoke() {
    (($# == 2)) || die "usage: scripts/lambda-tools.sh invoke FUNCTION EVENT_FILE"
    local fn="$1" event="$2" watch_port proxy_port log_start expected rc
    local timeout_s="${LOCAL_TIMEOUT_S:-30}"
    is_function "$fn" || die "unknown function '$fn' (one of: ${FUNCTIONS[*]})"
    [[ -f "$event" ]] || die "no event file $event"
    event="$(cd "$(dirname "$event")" && pwd)/$(basename "$event")"
    ARCH=none cmd_install
    with_venv_path
    cd "$ROOT"

    use_emulator
    "$PY" "$HELPER" setup
    trap stop_local EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ENV_FILE="$(mktemp "$STATE_DIR/lambda-env.XXXXXX")"
    RESPONSE_FILE="$(mktemp "$STATE_DIR/response.XXXXXX")"
    "$PY" "$HELPER" env-file "$ENV_FILE"

    log "cargo build -p $fn (debug)"
    cargo build --quiet -p "$fn" --bin "$fn"

    : >"$WATCH_LOG"
    watch_port="$(free_port)"
    log "cargo lambda watch --only-lambda-apis on 127.0.0.1:$watch_port (log ${WATCH_LOG#"$ROOT"/})"
    setsid cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$watch_port" \
        </dev/null >>"$WATCH_LOG" 2>&1 &
    LOCAL_PIDS+=("$!")
    wait_http "$watch_port" "$!" "cargo lambda watch"

    proxy_port="$(free_port)"
    setsid "$PY" "$HELPER" runtime-proxy "$proxy_port" "$watch_port" "$timeout_s" \
        </dev/null >>"$WATCH_LOG" 2>&1 &
    LOCAL_PIDS+=("$!")
    wait_http "$proxy_port" "$!" "the runtime proxy"

    log "starting target/debug/$fn (timeout ${timeout_s}s)"
    # The variables Lambda itself gives a function, then the function's own.
    (
        set -a
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        set +a
        export NO_COLOR=1 AWS_LAMBDA_FUNCTION_NAME="$fn" AWS_LAMBDA_FUNCTION_VERSION=1 \
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
            AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$proxy_port/.rt/$fn"
        exec setsid "target/debug/$fn" </dev/null >>"$WATCH_LOG" 2>&1
    ) &
    LOCAL_PIDS+=("$!")

    log "cargo lambda invoke $fn -A 127.0.0.1 -P $watch_port --data-file ${event#"$ROOT"/}"
    log_start=$(($(stat -c %s "$WATCH_LOG") + 1))
    set +e
    cargo lambda invoke "$fn" -A 127.0.0.1 -P "$watch_port" --data-file "$event" \
        --output-format json >"$RESPONSE_FILE"
    rc=$?
    set -e
    # The function's last log lines may still be on their way to the log.
    sleep 0.3
    printf '\n--- function output (%s)\n' "${WATCH_LOG#"$ROOT"/}"
    tail -c "+$log_start" "$WATCH_LOG"
    printf '\n--- response\n'
    "$PY" -m json.tool "$RESPONSE_FILE" 2>/dev/null || cat "$RESPONSE_FILE"
    expected="${event%.json}.expected.json"
    if ((rc == 0)) && [[ -f "$expected" ]]; then
        if same_json "$RESPONSE_FILE" "$expected"; then
            printf '(as documented in %s)\n' "${expected#"$ROOT"/}"
        else
            printf '(DIFFERENT from %s: %s)\n' "${expected#"$ROOT"/}" "$(tr -d ' \n' <"$expected")"
        fi
    fi
    stop_local
    ((rc == 0)) || die "cargo lambda invoke failed (exit $rc)"
    printf '\n--- local state after the invoke (%s)\n' "$AWS_ENDPOINT_URL"
    "$PY" "$HELPER" state
}

# ------------------------------------------------------------------ SAM

SAM_VENV="$STATE_DIR/sam-cli"

# SAM CLI has its own virtualenv (it pins boto3, botocore and click versions
# that would change moto's); scripts/validate-template.sh owns its install.
use_sam() {
    WITH_SAM_CLI=1 "$ROOT/scripts/validate-template.sh" install
    normalize_arch
    cmd_install
    # sam build runs `cargo lambda`, which needs Zig from .venv.
    export PATH="$VENV/bin:$SAM_VENV/bin:$PATH"
    export SAM_CLI_TELEMETRY=0
    cd "$ROOT"
}

sam_build() {
    local start=$SECONDS elapsed
    log "sam build (Architecture=$ARCH)"
    # Rust functions are always built in the source tree (the shared target/);
    # saying so spares the warning about the default.
    sam build --build-in-source --template-file template.yaml --parameter-overrides "Architecture=$ARCH"
    elapsed=$((SECONDS - start))
    log "sam build took $((elapsed / 60))m$(printf '%02d' $((elapsed % 60)))s"
}

cmd_sam_build() {
    use_sam
    sam_build
}

# An unattended deployment: no question is asked (stdin is closed), so the
# parameters without a default come from DEPLOY_PARAMS or the config file's
# saved answers, checked before anything is built. --dry-run prints the
# `sam deploy` command and stops there.
cmd_deploy() {
    local dry_run=0 args=() plan=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dry-run) dry_run=1 ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    normalize_arch
    mapfile -t plan < <(python3 "$ROOT/scripts/lib/deploy_plan.py" "$ROOT/template.yaml" \
        "${SAM_CONFIG_FILE:-samconfig.toml}" "$ARCH" "${DEPLOY_PARAMS:-}" "${args[@]}" || echo "__failed__")
    if [[ "${plan[-1]:-}" == __failed__ ]]; then
        exit 2
    fi
    if ((dry_run)); then
        printf 'sam deploy'
        printf ' %q' "${plan[@]}"
        printf '\n'
        return 0
    fi
    use_sam
    sam_build
    log "sam deploy ${plan[*]}"
    sam deploy "${plan[@]}" </dev/null
}

# The first deployment, answering SAM's questions at a terminal.
cmd_deploy_guided() {
    local args=("$@")
    use_sam
    sam_build
    # The template's Architecture must match the binaries just built; arm64 is
    # its default. (An override replaces samconfig's saved parameter_overrides,
    # so it is only given when needed; --guided asks for the others anyway.)
    if [[ "$ARCH" != arm64 ]]; then
        args=(--parameter-overrides "Architecture=${ARCH}" "${args[@]}")
    fi
    log "sam deploy --guided ${args[*]}"
    sam deploy --guided "${args[@]}"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    install) cmd_install ;;
    build) cmd_build "$@" ;;
    setup-local) cmd_setup_local ;;
    env) cmd_env ;;
    invoke) cmd_invoke "$@" ;;
    local-state) cmd_local_state ;;
    sam-build) cmd_sam_build ;;
    deploy) cmd_deploy "$@" ;;
    deploy-guided) cmd_deploy_guided "$@" ;;
    *) usage ;;
    esac
}

main "$@"; exit $?
