"""Restart a service when it exits on its own, as compose's `restart: unless-stopped` and Kubernetes do.

    python -m infra.stack.supervise NAME -- COMMAND [ARGS...]

Airflow's scheduler and dag-processor exit when the metadata database goes away (a Postgres
restart, a failover); in a deployment the orchestrator starts them again. The native stack runs
each Airflow component and the MLflow server under this supervisor. SIGTERM or SIGINT to the
supervisor stops the service and the supervisor, without a restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

RESTART_DELAY_S = 2.0
MAX_RESTARTS = 20


def log(name: str, message: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} [supervise] {name}: {message}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts = 0
    while True:
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            return 0
        if restarts >= MAX_RESTARTS:
            log(name, f"exited with code {code}; {MAX_RESTARTS} restarts already, giving up")
            return code or 1
        restarts += 1
        log(name, f"exited with code {code}; restart {restarts} of at most {MAX_RESTARTS} in {RESTART_DELAY_S:.0f} s")
        time.sleep(RESTART_DELAY_S)
        if stopping:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
