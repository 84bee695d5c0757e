"""The stack's process table: pid files, process trees, bounded waits (no services needed)."""

from __future__ import annotations

import json
import os
import sys
import time

import psutil
import pytest

from infra.stack.processes import ProcessTable, StackError, started_since_boot

# A parent that starts a child and both sleep: `stop` must reach the child too.
PARENT_AND_CHILD = ("import subprocess, sys, time; "
                    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")


def test_stop_ends_the_whole_process_tree_and_removes_the_pid_file(tmp_path):
    table = ProcessTable(tmp_path)
    launched = table.start("svc", [sys.executable, "-c", PARENT_AND_CHILD], env=dict(os.environ), cwd=tmp_path / "svc")
    deadline = time.monotonic() + 20
    while len(table.tree("svc")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    procs = table.tree("svc")
    assert len(procs) == 2 and procs[0].pid == launched.pid
    assert table.names() == ["svc"] and table.rss("svc") >= table.pss("svc") > 0

    table.stop("svc")
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)
    assert table.names() == [] and not table.running("svc")


def test_a_wall_clock_step_does_not_lose_a_running_service(tmp_path, monkeypatch):
    """A VM's clock adjustment moves /proc/stat's btime, and with it every process's create_time(): the
    stack must still recognise (and so stop) what it started."""
    table = ProcessTable(tmp_path)
    table.start("svc", [sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ), cwd=tmp_path / "s")
    real_boot_time = psutil._pslinux.boot_time
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: real_boot_time() + 1.0)  # btime one second later
    proc = table.process("svc")
    assert proc is not None
    table.stop("svc")
    assert not (proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)


def test_a_reused_pid_is_not_ours_and_is_never_signalled(tmp_path):
    table = ProcessTable(tmp_path)
    # A live process (this test) recorded with another start time: what a reused pid looks like.
    me = psutil.Process()
    record = {"pid": me.pid, "started_since_boot": started_since_boot(me) - 100}
    (table.pids / "old.json").write_text(json.dumps(record))
    assert table.process("old") is None and table.tree("old") == []
    table.stop("old")  # would kill this test if it signalled the pid
    assert me.is_running() and table.names() == []


def test_a_pid_file_of_an_older_stack_is_a_clear_error_naming_the_pid(tmp_path):
    table = ProcessTable(tmp_path)
    me = psutil.Process()
    record = {"pid": me.pid, "create_time": me.create_time(), "argv": ["python", "-m", "x"], "log": "x.log"}
    (table.pids / "old.json").write_text(json.dumps(record))
    with pytest.raises(StackError, match=rf"old.json was written by an older infra.stack.*pid {me.pid} \(python -m\)"):
        table.stop("old")
    assert me.is_running() and table.names() == ["old"]


def test_wait_ready_names_the_service_and_its_log_when_it_exits(tmp_path):
    table = ProcessTable(tmp_path)
    table.start("broken", [sys.executable, "-c", "print('bad config: port missing'); raise SystemExit(3)"],
                env=dict(os.environ), cwd=tmp_path)
    with pytest.raises(StackError) as err:
        table.wait_ready("broken", lambda: False, timeout=30)
    message = str(err.value)
    assert "broken exited" in message and str(table.log("broken")) in message and "bad config" in message


def test_wait_ready_is_bounded(tmp_path):
    table = ProcessTable(tmp_path)
    table.start("slow", [sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ), cwd=tmp_path)
    try:
        with pytest.raises(StackError, match=r"slow was not ready within 1 s"):
            table.wait_ready("slow", lambda: False, timeout=1)
    finally:
        table.stop("slow")


def test_a_second_start_of_a_running_service_is_refused(tmp_path):
    table = ProcessTable(tmp_path)
    table.start("svc", [sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ), cwd=tmp_path)
    try:
        with pytest.raises(StackError, match="already running"):
            table.start("svc", [sys.executable, "-c", "pass"], env=dict(os.environ), cwd=tmp_path)
    finally:
        table.stop("svc")
