"""The README's "Using it" commands, run as written on the tiny sample (the demo sample is too big for CI)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def using_it_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_commands_run_in_order_on_the_tiny_sample(tmp_path):
    commands = using_it_commands()
    assert [shlex.split(c)[1] for c in commands] == [
        "sample-data", "ingest", "sequences", "features", "train", "evaluate", "recommend"
    ]
    (tmp_path / "configs").symlink_to(REPO / "configs")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        command = command.replace("--preset demo", "--preset tiny")
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    assert '"recommendations"' in done.stdout
    assert (tmp_path / "data" / "demo" / "runs" / "first" / "report" / "report.md").exists()
