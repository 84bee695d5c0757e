"""Start, watch and stop the stack's server processes, each recorded in a pid file.

A pid file holds the pid and the process's start time, so that `down` signals a process only
if it is still the one `up` started (pids are reused), and then its whole process tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A service did not start, or the stack is in a state the command cannot work with."""


@dataclass(frozen=True)
class Launched:
    name: str
    pid: int
    started_since_boot: float
    log: Path


def tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def started_since_boot(proc: psutil.Process) -> float:
    """Seconds from boot to the process's start: fixed for the life of the process. `create_time()`
    alone is not: it adds /proc/stat's btime, which moves when the VM's wall clock is adjusted (a stack
    test once saw every service as gone, so `down` skipped them and left them running)."""
    return proc.create_time() - psutil.boot_time()


class ProcessTable:
    """Pid files under `<state>/pids/` and logs under `<state>/logs/`, one per service."""

    def __init__(self, state_dir: Path):
        self.pids = state_dir / "pids"
        self.logs = state_dir / "logs"
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path,
              user: str | None = None) -> Launched:
        """Start `argv` in its own session (so `stop` reaches its children), output to the service's log."""
        if self.running(name):
            raise StackError(f"{name} is already running (pid file {self.pids / name}.json); run `down` first")
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.log(name)
        with log.open("ab") as out:
            proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, user=user)
        started = started_since_boot(psutil.Process(proc.pid))
        (self.pids / f"{name}.json").write_text(json.dumps(
            {"pid": proc.pid, "started_since_boot": started, "argv": list(argv), "log": str(log)}))
        return Launched(name, proc.pid, started, log)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.pids.glob("*.json"))

    def process(self, name: str) -> psutil.Process | None:
        """The live process `up` started for `name`, or None (never started, exited, or pid reused)."""
        path = self.pids / f"{name}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        if "started_since_boot" not in record:
            raise StackError(f"{path} was written by an older infra.stack (it records `create_time`): stop pid "
                             f"{record['pid']} ({' '.join(record['argv'][:2])}) and its children yourself, then "
                             f"delete {self.pids}")
        try:
            proc = psutil.Process(record["pid"])
            if (abs(started_since_boot(proc) - record["started_since_boot"]) > 0.01
                    or proc.status() == psutil.STATUS_ZOMBIE):
                return None
        except psutil.NoSuchProcess:
            return None
        return proc

    def running(self, name: str) -> bool:
        return self.process(name) is not None

    def tree(self, name: str) -> list[psutil.Process]:
        proc = self.process(name)
        if proc is None:
            return []
        try:
            return [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self, name: str) -> int:
        """Resident memory of the service's process tree, in bytes (pages shared between processes counted
        in each of them)."""
        total = 0
        for proc in self.tree(name):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def pss(self, name: str) -> int:
        """Proportional set size of the service's process tree, in bytes: each shared page divided among the
        processes that share it, so that sums over services are the memory they really take."""
        total = 0
        for proc in self.tree(name):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_full_info().pss
        return total

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Signal the service's process group and every descendant; SIGKILL what is left after `timeout`."""
        procs = self.tree(name)
        if procs:
            leader = procs[0]
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader.pid, sig)
            for proc in procs[1:]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.send_signal(sig)
            _, alive = psutil.wait_procs(procs, timeout=timeout)
            for proc in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            psutil.wait_procs(alive, timeout=10)
        (self.pids / f"{name}.json").unlink(missing_ok=True)

    def wait_ready(self, name: str, ready: Callable[[], bool], timeout: float, what: str = "ready") -> float:
        """Poll `ready()` until true; fail naming the service and its log if it exits or times out. Returns seconds."""
        start = time.monotonic()
        log = self.log(name)
        while True:
            try:
                if ready():
                    return time.monotonic() - start
            except Exception:
                pass
            if not self.running(name):
                raise StackError(f"{name} exited before it was {what}; its log {log} ends with:\n{tail(log)}")
            if time.monotonic() - start > timeout:
                raise StackError(f"{name} was not {what} within {timeout:.0f} s; its log {log} ends with:\n{tail(log)}")
            time.sleep(0.5)
