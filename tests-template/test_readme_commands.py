"""The README's commands that only work against AWS, proven against the
template: a user who wires a mapping by hand gets the settings the stack
would give it. `scripts/check_readme_commands.py` runs the rest."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from cfn_eval import load_template

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_readme_commands  # noqa: E402


def readme_command(prefix: str) -> list[str]:
    found = [
        c.text
        for c in check_readme_commands.commands((ROOT / "README.md").read_text())
        if c.text.startswith(prefix)
    ]
    assert len(found) == 1, f"one README command starting {prefix!r}, found {found}"
    return shlex.split(found[0])


def flags(tokens: list[str]) -> dict[str, str | None]:
    """`--name value` and bare `--switch` pairs."""
    out: dict[str, str | None] = {}
    for i, token in enumerate(tokens):
        if token.startswith("--"):
            value = tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("--") else None
            out[token] = value
    return out


def template_mapping(function: str) -> tuple[dict, dict]:
    template = load_template(str(ROOT / "template.yaml"))
    events = template["Resources"][function]["Properties"]["Events"]
    kinesis = [e["Properties"] for e in events.values() if e["Type"] == "Kinesis"]
    return kinesis[0], template["Parameters"]


def default(value, parameters: dict):
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]["Default"]
    return value


def test_the_manual_mapping_has_the_templates_settings():
    given = flags(readme_command("aws lambda create-event-source-mapping"))
    mapping, parameters = template_mapping("InventoryUpdateFunction")
    for flag, prop in [
        ("--batch-size", "BatchSize"),
        ("--maximum-batching-window-in-seconds", "MaximumBatchingWindowInSeconds"),
        ("--parallelization-factor", "ParallelizationFactor"),
        ("--maximum-retry-attempts", "MaximumRetryAttempts"),
        ("--maximum-record-age-in-seconds", "MaximumRecordAgeInSeconds"),
    ]:
        assert flag in given, f"the README's mapping leaves out {flag}"
        assert str(given[flag]) == str(default(mapping[prop], parameters)), flag
    assert mapping["BisectBatchOnFunctionError"] is True
    assert "--bisect-batch-on-function-error" in given
    assert given["--function-response-types"] == "ReportBatchItemFailures"
    assert "OnFailure" in mapping["DestinationConfig"]
    destination = json.loads(given["--destination-config"] or "{}")
    assert "Destination" in destination.get("OnFailure", {}), "no on-failure destination"
    # An existing stream: the position is the user's explicit choice.
    assert given["--starting-position"] in {"LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"}


def test_every_readme_command_is_known_and_names_what_exists(capsys):
    assert check_readme_commands.main() == 0, capsys.readouterr().out
