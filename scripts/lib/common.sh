# Shared by the project's scripts: logging, the install lock and the
# project-local virtualenv. Source it after setting LOG_TAG; it sets ROOT,
# STATE_DIR, VENV and PY.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$ROOT/.local"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '%s: %s\n' "${LOG_TAG:-script}" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Prints the calling script's header comment (its usage) and exits 2.
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# Serialises installs (and starts) across concurrent invocations of any
# script: two runs in one checkout must not pip-install into .venv at once.
take_lock() {
    mkdir -p "$STATE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$STATE_DIR/${1:-install}.lock"
        flock 9
    fi
}
release_lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>&-
    fi
}

# Creates the project-local virtualenv when it is missing.
ensure_venv() {
    [[ -x "$PY" ]] && return 0
    command -v python3 >/dev/null 2>&1 || die "python3 not found; install Python 3.9+ first"
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
}
