"""infra/stack/supervise.py: a service that exits on its own is started again; a stopped one is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SUPERVISE = Path(__file__).resolve().parents[2] / "infra" / "stack" / "supervise.py"
# Each start appends a line; the first start exits with an error (as the scheduler does when Postgres restarts).
SERVICE = ("import pathlib, sys, time; p = pathlib.Path(sys.argv[1]); n = len(p.read_text().splitlines()) "
           "if p.exists() else 0; p.write_text('start\\n' * (n + 1)); sys.exit(3) if n == 0 else time.sleep(60)")


def starts(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def test_restarts_a_service_that_exited_and_stops_with_it(tmp_path):
    marker = tmp_path / "starts"
    proc = subprocess.Popen([sys.executable, str(SUPERVISE), "svc", "--", sys.executable, "-c", SERVICE, str(marker)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while starts(marker) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert starts(marker) == 2

    os.killpg(proc.pid, signal.SIGTERM)  # what `down` does: the supervisor and its service together
    assert proc.wait(timeout=30) == 0
    time.sleep(3)  # longer than the restart delay: a restart would have shown by now
    assert starts(marker) == 2
    assert "svc: exited with code 3; restart 1" in proc.stdout.read()
