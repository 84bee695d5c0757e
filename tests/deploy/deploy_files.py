"""Deployment files (infra/) read as data, and the service command scripts under infra/bin."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
IMAGE_ROOT = "/opt/mtstrec/"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def accepted_subcommands(script: Path) -> set[str] | None:
    """The labels of a script's `case` over its first argument (None: it takes no sub-command)."""
    labels = re.findall(r"^\s*([a-z][a-z| -]*)\)\s*$", script.read_text(), flags=re.MULTILINE)
    if not labels:
        return None
    return {label.strip() for group in labels for label in group.split("|")}


def check_service_command(command: str | list[str]) -> tuple[Path, str | None]:
    """Asserts that a container command runs one of infra/bin's scripts with a sub-command it accepts."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["bash", "-c"]:
        words = shlex.split(words[2])
    if words[0] == "exec":
        words = words[1:]
    path = words[0].removeprefix(IMAGE_ROOT)
    assert path.startswith("infra/bin/"), f"{command!r} does not start through infra/bin"
    script = REPO / path
    assert script.is_file(), f"{command!r}: no such script {script}"
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    sub = words[1] if len(words) > 1 else None
    accepted = accepted_subcommands(script)
    if accepted is not None:
        assert sub in accepted, f"{command!r}: {script.name} accepts {sorted(accepted)}"
    return script, sub
