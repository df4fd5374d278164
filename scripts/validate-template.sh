#!/usr/bin/env bash
# Offline checks of the SAM template (no AWS account, no network once installed).
#
#   scripts/validate-template.sh           install the pinned tools if needed, then
#                                            cfn-lint, sam validate --lint (if SAM CLI
#                                            is installed) and pytest tests-template
#   scripts/validate-template.sh install   only install the pinned tools
#
# The tools (scripts/template_requirements.txt) go into the project's .venv,
# next to moto. SAM CLI is optional: WITH_SAM_CLI=1 installs it into its own
# virtualenv (.local/sam-cli), because it pins boto3, botocore and click
# versions that would change moto's environment; once there it is used.
set -euo pipefail

LOG_TAG=validate-template
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
REQUIREMENTS="$ROOT/scripts/template_requirements.txt"
SAM_VENV="$STATE_DIR/sam-cli"
SAM_CLI_VERSION="1.170.0"
TEMPLATE="$ROOT/template.yaml"

section() { printf '\n==> %s\n' "$*" >&2; }

# True when every `name==version` pin of the file is installed in that python.
pins_installed() {
    local python="$1" requirements="$2"
    [[ -x "$python" ]] && "$python" - "$requirements" >/dev/null 2>&1 <<'EOF'
import re, sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, pinned = re.split(r"\s*==\s*", line)
    try:
        if version(name) != pinned:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

install_tools() {
    pins_installed "$PY" "$REQUIREMENTS" && return 0
    take_lock install
    if ! pins_installed "$PY" "$REQUIREMENTS"; then
        ensure_venv
        log "installing $(grep -cv '^\s*\(#\|$\)' "$REQUIREMENTS") pinned packages from ${REQUIREMENTS#"$ROOT"/} into .venv"
        "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" ||
            die "pip install -r $REQUIREMENTS failed"
        pins_installed "$PY" "$REQUIREMENTS" || die "the pinned versions are still not importable from $PY"
    fi
    release_lock
}

sam_cli_installed() {
    [[ -x "$SAM_VENV/bin/sam" ]] && "$SAM_VENV/bin/python" - "$SAM_CLI_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if version("aws-sam-cli") == sys.argv[1] and version("cfn-lint") == "1.53.3" else 1)
EOF
}

install_sam_cli() {
    sam_cli_installed && return 0
    take_lock install
    if ! sam_cli_installed; then
        log "installing aws-sam-cli==$SAM_CLI_VERSION into ${SAM_VENV#"$ROOT"/}"
        [[ -x "$SAM_VENV/bin/python" ]] || python3 -m venv "$SAM_VENV" || die "python3 -m venv $SAM_VENV failed"
        # SAM CLI accepts cfn-lint up to 1.58, which skips the SAM transform: pin it.
        "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==1.53.3" || die "pip install aws-sam-cli failed"
    fi
    release_lock
}

main() {
    case "${1:-}" in
        install)
            install_tools
            if [[ "${WITH_SAM_CLI:-0}" == 1 ]]; then install_sam_cli; fi
            return 0
            ;;
        "") ;;
        *)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
            exit 2
            ;;
    esac

    install_tools
    if [[ "${WITH_SAM_CLI:-0}" == 1 ]]; then install_sam_cli; fi
    cd "$ROOT"

    section "cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}') template.yaml"
    "$VENV/bin/cfn-lint" --include-checks I -- "$TEMPLATE"

    if sam_cli_installed; then
        section "sam validate --lint"
        # Region only for the transform's ARNs; nothing is sent anywhere.
        AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
            "$SAM_VENV/bin/sam" validate --lint --template-file "$TEMPLATE"
    else
        log "SAM CLI not installed: skipping sam validate --lint (WITH_SAM_CLI=1 installs it)"
    fi

    section "pytest tests-template"
    PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest tests-template -q -p no:cacheprovider
}

main "$@"
