#!/usr/bin/env bash
# The demo's order mix under injected faults (make chaos, make chaos-ci).
#
#   scripts/chaos.sh [full|ci] [chaos options...]
#
#   full  every profile (none, throttling, 5xx, resets, latency,
#         lost-responses, mixed), 200 orders each
#   ci    60 orders, the none and mixed profiles
#
# Builds the chaos driver (tools/demo, binary `chaos`), starts a private
# emulator, runs every profile against it (emptying it before each) and
# prints the table. Exits 1 when an invariant failed, 2 on an error.
# Further options go to the driver: see `cargo run -p demo --bin chaos -- --help`.
set -euo pipefail

LOG_TAG=chaos
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

mode="${1:-full}"
[[ $# -gt 0 ]] && shift
case "$mode" in
full) args=(--orders 200 --budget-s 150) ;;
ci) args=(--orders 60 --profiles none,mixed --budget-s 90) ;;
-h | --help) usage ;;
*)
    log "unknown mode '$mode'"
    usage
    ;;
esac

cd "$ROOT"
CARGO="${CARGO:-cargo}"
log "building the chaos driver"
"$CARGO" build -q -p demo --bin chaos
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
started=$SECONDS
status=0
"$ROOT/scripts/local-aws.sh" run -- "$target_dir/debug/chaos" --reset-emulator "${args[@]}" "$@" || status=$?
log "$mode run took $((SECONDS - started)) s (exit $status)"
exit "$status"
