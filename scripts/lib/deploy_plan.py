#!/usr/bin/env python3
"""The `sam deploy` command an unattended deployment runs, or why it cannot.

A deployment with no terminal cannot answer `--guided`'s questions, so every
template parameter without a default must come from the caller
(`DEPLOY_PARAMS="Key=Value ..."`) or from the SAM config file's saved
`parameter_overrides`. This prints the command's arguments, one per line, or
names the missing parameters and exits 2, before anything is built.

    deploy_plan.py TEMPLATE CONFIG_FILE ARCH "Key=Value ..." [SAM ARGS...]
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path


def parameters(template: str) -> dict[str, bool]:
    """The template's parameters, each with whether it has a `Default`."""
    section = re.search(r"^Parameters:\n((?:[ #].*\n|\n)+)", template, re.MULTILINE)
    if not section:
        return {}
    return {
        match.group(1): bool(re.search(r"^    Default:", match.group(2), re.MULTILINE))
        for match in re.finditer(r"^  (\w+):\n((?:    .*\n|\s*\n)*)", section.group(1), re.MULTILINE)
    }


def required_parameters(template: str) -> list[str]:
    """The template's parameters that have no `Default`."""
    return [name for name, has_default in parameters(template).items() if not has_default]


def saved_overrides(config_file: Path) -> dict[str, str]:
    """`parameter_overrides` saved under [default.deploy.parameters] (what
    `sam deploy --guided` writes), as a dict."""
    if not config_file.is_file():
        return {}
    config = tomllib.loads(config_file.read_text())
    saved = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides")
    if saved is None:
        return {}
    items = saved if isinstance(saved, list) else shlex.split(saved)
    return dict(item.split("=", 1) for item in items if "=" in item)


def parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    try:
        items = shlex.split(text)
    except ValueError as err:
        raise ValueError(f"DEPLOY_PARAMS cannot be read ({err})") from err
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"DEPLOY_PARAMS: {item!r} is not Key=Value")
        params[key] = value
    return params


def main(argv: list[str]) -> int:
    template_path, config_path, arch, params_text, *sam_args = argv
    try:
        given = parse_params(params_text)
    except ValueError as err:
        print(f"deploy: {err}", file=sys.stderr)
        return 2
    saved = saved_overrides(Path(config_path))
    template = Path(template_path).read_text()
    unknown = [p for p in given if p not in parameters(template)]
    if unknown:
        print(
            f"deploy: the template has no parameter {', '.join(unknown)} "
            f"(it has {', '.join(parameters(template))})",
            file=sys.stderr,
        )
        return 2
    missing = [p for p in required_parameters(template) if p not in given and p not in saved]
    if missing:
        example = " ".join(f"{p}=..." for p in missing)
        print(
            f"deploy: the template needs {', '.join(missing)} and nothing gives "
            f"{'it' if len(missing) == 1 else 'them'}. Pass DEPLOY_PARAMS=\"{example}\" "
            f"(make deploy DEPLOY_PARAMS=\"{example}\"), or run `make deploy-guided` once "
            f"and save the answers to {config_path}.",
            file=sys.stderr,
        )
        return 2
    # An override replaces the saved parameter_overrides as a whole, so the
    # saved ones are repeated under the new ones.
    overrides = {**saved, **given}
    if arch != "arm64" or "Architecture" in overrides:
        overrides.setdefault("Architecture", arch)
    args = ["--config-file", config_path, "--no-confirm-changeset", "--no-fail-on-empty-changeset"]
    if overrides:
        args += ["--parameter-overrides", *(f"{k}={v}" for k, v in overrides.items())]
    for arg in args + sam_args:
        print(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
