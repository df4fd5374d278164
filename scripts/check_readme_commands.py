#!/usr/bin/env python3
"""Checks every shell command the README shows, taken from the README itself.

Each command in a ```sh block is matched against the rules below, and a
command no rule knows fails the check: a new or changed command must say
how it is proven. Then, for every command:

- what it names must exist: `make` targets in the Makefile, `cargo run -p`
  packages in the workspace, scripts, files under `events/`;
- with `--run`, the flags it gives a workspace binary must be ones that
  binary's `--help` lists, and the commands marked `run` are run (they are
  fast and need no AWS) and must succeed;
- commands that only work against AWS are proven by a named test of the
  template (`tests-template/`), which must exist.

    scripts/check_readme_commands.py          static checks (no build)
    scripts/check_readme_commands.py --run    also builds and runs (CI, after make test)
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# How each command is proven. The first matching rule wins.
#   run       run as written (fast, local, no AWS)
#   help      its flags are checked against the binary's --help
#   ci        CI runs it (.ci/run)
#   manual    long or interactive; what it names is checked
#   aws       needs AWS; its settings are proven by the named template test
RULES: list[tuple[str, str, str]] = [
    (r"^make capacity ARGS=", "run", ""),
    (r"^make publish .*PUBLISH_ARGS=--dry-run", "run", ""),
    (r"^cargo run -p event-source-runner -- --help$", "run", ""),
    (r"^make help$", "run", ""),
    (r"^make (test|lint|validate-template|fuzz-ci|check-readme)\b", "ci", ""),
    (r"^bash \.ci/run$", "ci", ""),
    (r"^make (demo|chaos|chaos-ci|bench|bench-functions|fuzz)\b", "manual", ""),
    (r"^scripts/bench-functions\.sh( --quick)?$", "manual", ""),
    (r"^make (invoke|local-state)\b", "manual", ""),
    (r"^make aws-up / aws-down$", "manual", ""),
    (r"^cargo run -p fault-proxy -- ", "help", ""),
    (r"^cargo run -p fuzz -- --replay ", "help", ""),
    (r"^cargo run -p event-source-runner -- ", "help", ""),
    (r"^\S+=\S+ .*cargo run -p event-source-runner -- ", "help", ""),
    (r"^(some-generator \| )?cargo run -q -p producer -- publish ", "help", ""),
    (r"^make redrive ARGS=", "help", ""),
    # Publishing to a real stream: the producer's emulator tests run it.
    (r"^make publish STREAM=", "manual", ""),
    (r"^export DEAD_LETTER_QUEUE_URL=", "aws", "test_template.py::test_template"),
    (r"^make deploy .*DEPLOY_ARGS=--dry-run$", "run", ""),
    (r"^make deploy-guided$", "manual", ""),
    (r"^(ARCH=\S+ )?make (deploy|build|sam-build)\b", "aws", "test_template.py::test_samconfig_deploys_with_the_template_roles"),
    (r"^sam (build|deploy)\b", "aws", "test_template.py::test_samconfig_deploys_with_the_template_roles"),
    (r"^cat > [\w-]+\.env <<", "aws", "test_template.py::test_cargo_lambda_deploys_with_the_template_s_settings"),
    (r"^PATH=\S+ cargo lambda deploy ", "aws", "test_template.py::test_cargo_lambda_deploys_with_the_template_s_settings"),
    (r"^aws lambda create-event-source-mapping ", "aws", "test_readme_commands.py::test_the_manual_mapping_has_the_templates_settings"),
]

# `make` targets that wrap a workspace binary, and the variable carrying its
# arguments, for the flag check.
MAKE_WRAPPERS = {"redrive": ("dead-letters", "ARGS")}


@dataclass
class Command:
    line: int
    text: str


def commands(readme: str) -> list[Command]:
    """Each command of the README's sh blocks, continuations joined and
    trailing comments dropped."""
    found: list[Command] = []
    in_block = False
    pending = ""
    start = 0
    heredoc_end: str | None = None
    for number, raw in enumerate(readme.splitlines(), 1):
        stripped = raw.strip()
        if heredoc_end is not None:
            # A here-document's lines are the data of the command above.
            found[-1].text += "\n" + raw
            if stripped == heredoc_end:
                heredoc_end = None
            continue
        if stripped.startswith("```"):
            in_block = not in_block and stripped[3:].strip() in ("sh", "bash", "shell")
            pending = ""
            continue
        if not in_block or (not pending and (not stripped or stripped.startswith("#"))):
            continue
        if not pending:
            start = number
        text = re.split(r"\s{2,}#\s", stripped, maxsplit=1)[0].rstrip()
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        found.append(Command(start, (pending + text).strip()))
        pending = ""
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", text)
        if heredoc:
            heredoc_end = heredoc.group(1)
    return found


def rule_for(command: str) -> tuple[str, str] | None:
    for pattern, kind, proof in RULES:
        if re.search(pattern, command):
            return kind, proof
    return None


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, re.M))


def packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/*/Cargo.toml")}


def words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def static_problems(command: str, targets: set[str], pkgs: set[str]) -> list[str]:
    """What the command names that does not exist."""
    problems = []
    tokens = words(command)
    for i, token in enumerate(tokens):
        if token == "make" and i + 1 < len(tokens):
            target = tokens[i + 1]
            if "=" not in target and target not in targets:
                problems.append(f"no make target `{target}`")
        if token == "-p" and i > 0 and "cargo" in tokens[: i] and i + 1 < len(tokens):
            if tokens[i + 1] not in pkgs:
                problems.append(f"no workspace package `{tokens[i + 1]}`")
    for path in re.findall(r"(?:^|[\s=\"'])((?:scripts|events)/[\w./-]+)", command):
        if "<" not in path and not (ROOT / path).exists():
            problems.append(f"no file `{path}`")
    return problems


def binary_args(command: str) -> tuple[str, list[str]] | None:
    """The package and arguments of a workspace binary the command runs."""
    tokens = words(command)
    if "cargo" in tokens and "run" in tokens and "-p" in tokens and "--" in tokens:
        package = tokens[tokens.index("-p") + 1]
        return package, tokens[tokens.index("--") + 1 :]
    if len(tokens) >= 2 and tokens[0] == "make" and tokens[1] in MAKE_WRAPPERS:
        package, variable = MAKE_WRAPPERS[tokens[1]]
        for token in tokens[2:]:
            if token.startswith(variable + "="):
                return package, shlex.split(token[len(variable) + 1 :])
    return None


def help_of(package: str, args: list[str]) -> str:
    """The binary's help text, for its subcommand when it has one."""
    def run(extra: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["cargo", "run", "-q", "-p", package, "--", *extra, "--help"],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )
    if args and re.fullmatch(r"[a-z][a-z-]*", args[0]):
        sub = run([args[0]])
        if sub.returncode == 0:
            return sub.stdout
    whole = run([])
    if whole.returncode != 0:
        raise RuntimeError(f"`{package} --help` failed: {whole.stderr.strip()[-400:]}")
    return whole.stdout


def flag_problems(package: str, args: list[str]) -> list[str]:
    text = help_of(package, args)
    flags = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    return [f"`{package}` has no flag `{flag}`" for flag in sorted(flags) if flag not in text]


def proof_exists(proof: str) -> bool:
    file, _, test = proof.partition("::")
    path = ROOT / "tests-template" / file
    return path.exists() and re.search(rf"^def {re.escape(test)}\(", path.read_text(), re.M) is not None


def main() -> int:
    run_them = "--run" in sys.argv[1:]
    targets, pkgs = make_targets(), packages()
    failures = 0
    tally: dict[str, int] = {}
    for command in commands(README.read_text()):
        rule = rule_for(command.text)
        problems: list[str] = []
        if rule is None:
            problems.append("no rule says how this command is proven (scripts/check_readme_commands.py)")
            kind = "unknown"
        else:
            kind, proof = rule
            problems += static_problems(command.text, targets, pkgs)
            if kind == "aws" and not proof_exists(proof):
                problems.append(f"its proof `{proof}` does not exist")
            if run_them and kind in ("help", "run"):
                target = binary_args(command.text)
                if target:
                    problems += flag_problems(*target)
            if run_them and kind == "run":
                done = subprocess.run(command.text, shell=True, cwd=ROOT, capture_output=True,
                                      text=True, timeout=1800)
                if done.returncode != 0:
                    problems.append(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
        tally[kind] = tally.get(kind, 0) + 1
        status = "FAIL" if problems else "ok"
        first_line = command.text.splitlines()[0]
        print(f"{status:4} {kind:7} README.md:{command.line}: {first_line[:100]}")
        for problem in problems:
            print(f"       {problem}")
        failures += bool(problems)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
    print(f"\n{sum(tally.values())} commands ({summary}); {failures} failing"
          + ("" if run_them else "; flags and runs not checked (--run)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
