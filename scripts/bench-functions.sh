#!/usr/bin/env bash
# Measures each Lambda function's real binary against a private local AWS
# emulator: init (process start to ready), peak memory of a 1,000- and a
# 10,000-record batch, CPU per record. Prints a table with the targets beside
# the figures and writes target/function-bench.json.
#
#   scripts/bench-functions.sh                          all three functions
#   scripts/bench-functions.sh --function inventory-update --batch 1000
#   scripts/bench-functions.sh --function echo-function  the harness alone, no AWS
#   scripts/bench-functions.sh --help                   every option
#
# Options go to function-bench (tools/function-bench): --function NAME[,NAME],
# --batch N[,N], --init-runs N, --info-batch N (0 = none), --log-level LEVEL,
# --out FILE. A 10,000-record batch against the emulator takes minutes.
#
# The binaries are built with the `bench` profile: optimised like `release`
# but without LTO and with 16 codegen units, so it builds in minutes. The
# deployed `release` build adds LTO, codegen-units = 1, strip and
# panic = abort: a smaller binary, usually a little faster, so these figures
# are on the conservative side.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# Cargo puts the `bench` profile's output in target/release (the built-in
# profiles bench and release share that directory).
BIN_DIR="$TARGET_DIR/release"
ALL_FUNCTIONS=(email-notification inventory-update order-saga-step)

log() { printf 'bench-functions: %s\n' "$*" >&2; }

# The functions asked for, to build only those.
functions=()
help=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    --function) ((i + 1 < ${#args[@]})) && IFS=',' read -r -a more <<<"${args[i + 1]}" && functions+=("${more[@]}") ;;
    --function=*) IFS=',' read -r -a more <<<"${args[i]#--function=}" && functions+=("${more[@]}") ;;
    -h | --help) help=1 ;;
    esac
done
((${#functions[@]} > 0)) || functions=("${ALL_FUNCTIONS[@]}")

log "building function-bench (bench profile)"
"$CARGO" build --profile bench --bins -p function-bench

if ((help)); then
    exec "$BIN_DIR/function-bench" --help
fi

# Each function is built on its own, so one that does not compile yet does
# not stop the others from being measured (it is reported as missing).
packages=()
for f in "${functions[@]}"; do
    [[ "$f" == echo-function ]] || packages+=("$f")
done
if ((${#packages[@]} > 0)); then
    pkg_args=()
    for p in "${packages[@]}"; do pkg_args+=(-p "$p"); done
    log "building ${packages[*]} (bench profile)"
    if ! "$CARGO" build --profile bench --bins "${pkg_args[@]}"; then
        log "the joint build failed; building each function on its own"
        for p in "${packages[@]}"; do
            # A stale binary from an earlier build must not be measured as this code.
            if ! "$CARGO" build --profile bench --bins -p "$p"; then
                log "$p does not build: it will be reported as missing"
                rm -f "$BIN_DIR/$p"
            fi
        done
    fi
fi

bench=("$BIN_DIR/function-bench" --bin-dir "$BIN_DIR" --out "$TARGET_DIR/function-bench.json"
    --logs-dir "$TARGET_DIR/function-bench-logs" "$@")
if ((${#packages[@]} == 0)); then
    exec "${bench[@]}" # the echo function needs no emulator
fi
exec "$ROOT/scripts/local-aws.sh" run -- "${bench[@]}"
