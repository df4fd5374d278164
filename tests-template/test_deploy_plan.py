"""`make deploy` runs unattended: the parameters a deployment must be given
are found in the template, taken from DEPLOY_PARAMS or the saved answers, and
a missing one stops it before anything is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "lib"))

import deploy_plan  # noqa: E402
from cfn_eval import load_template  # noqa: E402

TEMPLATE = ROOT / "template.yaml"


def plan(tmp_path: Path, params: str, saved: str | None = None, arch: str = "arm64", *extra: str):
    config = tmp_path / "samconfig.toml"
    if saved is not None:
        config.write_text(f'version = 0.1\n[default.deploy.parameters]\nparameter_overrides = "{saved}"\n')
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/lib/deploy_plan.py"), str(TEMPLATE), str(config), arch, params, *extra],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def overrides(args: list[str]) -> dict[str, str]:
    start = args.index("--parameter-overrides") + 1
    items = []
    for arg in args[start:]:
        if arg.startswith("--"):
            break
        items.append(arg)
    return dict(item.split("=", 1) for item in items)


def test_the_template_s_required_parameters_are_found():
    required = deploy_plan.required_parameters(TEMPLATE.read_text())
    declared = load_template(TEMPLATE)["Parameters"]
    assert required == [name for name, p in declared.items() if "Default" not in p]
    assert required, "the template has a parameter a deployment must give"


def test_a_missing_parameter_stops_the_deployment_and_is_named(tmp_path):
    result = plan(tmp_path, "")
    assert result.returncode == 2
    assert result.stdout == ""
    for name in deploy_plan.required_parameters(TEMPLATE.read_text()):
        assert name in result.stderr
    assert "DEPLOY_PARAMS" in result.stderr and "deploy-guided" in result.stderr


def test_given_parameters_deploy_without_a_prompt(tmp_path):
    result = plan(tmp_path, "SenderEmail=ops@example.com StartingPosition=LATEST")
    assert result.returncode == 0, result.stderr
    args = result.stdout.splitlines()
    assert "--guided" not in args
    assert "--no-confirm-changeset" in args
    assert overrides(args) == {"SenderEmail": "ops@example.com", "StartingPosition": "LATEST"}


def test_saved_answers_are_kept_under_new_ones(tmp_path):
    result = plan(tmp_path, "StartingPosition=LATEST", saved="SenderEmail=saved@example.com StartingPosition=TRIM_HORIZON")
    assert result.returncode == 0, result.stderr
    assert overrides(result.stdout.splitlines()) == {
        "SenderEmail": "saved@example.com",
        "StartingPosition": "LATEST",
    }


def test_the_architecture_follows_the_build(tmp_path):
    result = plan(tmp_path, "SenderEmail=a@example.com", None, "x86_64", "--stack-name", "shop")
    args = result.stdout.splitlines()
    assert overrides(args)["Architecture"] == "x86_64"
    assert args[-2:] == ["--stack-name", "shop"]


def test_a_parameter_the_template_does_not_have_is_refused(tmp_path):
    result = plan(tmp_path, "SenderEmail=a@example.com StartPosition=LATEST")
    assert result.returncode == 2
    assert "StartPosition" in result.stderr and "StartingPosition" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("bad", ["SenderEmail", "=x", "SenderEmail='unclosed"])
def test_an_unreadable_parameter_is_refused(tmp_path, bad):
    result = plan(tmp_path, bad)
    assert result.returncode == 2
    assert "DEPLOY_PARAMS" in result.stderr


def test_make_deploy_dry_run_prints_the_unattended_command():
    result = subprocess.run(
        ["make", "-s", "deploy", "DEPLOY_PARAMS=SenderEmail=ops@example.com", "DEPLOY_ARGS=--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("sam deploy --config-file samconfig.toml --no-confirm-changeset")
    assert "SenderEmail=ops@example.com" in result.stdout
