#!/usr/bin/env bash
# Measures what Lambda bills for each function: its real binary, and its
# Python counterpart (bench/python, boto3 + Powertools under awslambdaric),
# behind a fake Lambda Runtime API, against a fake AWS endpoint with a set
# latency. Prints the matrix (latency × batch × partition keys), Rust against
# Python, the billed duration and the cost per million events; writes
# target/function-bench.json and target/function-bench.svg.
#
#   scripts/bench-functions.sh                 latencies 0/5/20 ms, 1,000 records, keys 1/100/1,000
#   scripts/bench-functions.sh --quick         5 ms, 1,000 records, keys 100 and 1,000
#   scripts/bench-functions.sh --full          also batches of 100 and 5,000
#   scripts/bench-functions.sh --quota-check   one cell again under a real 128 MB CPU quota
#   scripts/bench-functions.sh --strace        one cell again under strace -c -f (every syscall)
#   scripts/bench-functions.sh --function inventory-update --no-python
#   scripts/bench-functions.sh --help          every option
#
# The binaries are built with the `bench` profile: optimised like `release`
# but without LTO and with 16 codegen units, so it builds in minutes. The
# deployed `release` build adds LTO, codegen-units = 1, strip and
# panic = abort: a smaller binary, usually a little faster, so these figures
# are on the conservative side. The Python packages are pinned in
# bench/python/requirements.txt and installed into target/bench-venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# Cargo puts the `bench` profile's output in target/release (the built-in
# profiles bench and release share that directory).
BIN_DIR="$TARGET_DIR/release"
VENV="${BENCH_VENV:-$TARGET_DIR/bench-venv}"
REQUIREMENTS="$ROOT/bench/python/requirements.txt"

log() { printf 'bench-functions: %s\n' "$*" >&2; }

# The functions asked for, to build only those.
functions=()
help=0
python=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    --function) ((i + 1 < ${#args[@]})) && IFS=',' read -r -a more <<<"${args[i + 1]}" && functions+=("${more[@]}") ;;
    --function=*) IFS=',' read -r -a more <<<"${args[i]#--function=}" && functions+=("${more[@]}") ;;
    --no-python) python=0 ;;
    -h | --help) help=1 ;;
    esac
done

log "building function-bench (bench profile)"
"$CARGO" build --profile bench --bins -p function-bench

if ((help)); then
    exec "$BIN_DIR/function-bench" --help
fi

if ((${#functions[@]} == 0)); then
    # Every deployed function, from the descriptors' manifest.
    mapfile -t functions < <(python3 -c 'import json; [print(f["name"]) for f in json.load(open("functions.json"))["functions"]]')
fi

# Each function is built on its own when the joint build fails, so one that
# does not compile does not stop the others from being measured (it is
# reported as missing).
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

# The venv is remade when the pinned requirements change.
if ((python)) && ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
    log "installing the Python consumers' packages into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi

exec "$BIN_DIR/function-bench" --bin-dir "$BIN_DIR" --python "$VENV/bin/python" \
    --out "$TARGET_DIR/function-bench.json" --svg "$TARGET_DIR/function-bench.svg" \
    --logs-dir "$TARGET_DIR/function-bench-logs" "$@"
