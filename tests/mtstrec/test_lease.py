"""Leases on the storage root: one holder at a time, on local disk and on S3 (moto), across threads."""

from __future__ import annotations

import json
import threading
import time

import pytest

from mtstrec.lease import LeaseTimeoutError, acquire, generation_file, hold, latest_generation
from mtstrec.storage import Storage


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> Storage:
    if request.param == "local":
        return Storage(str(tmp_path / "root"))
    return Storage(request.getfixturevalue("s3_bucket") + "/root")


def test_create_exclusive_lets_one_creator_win(root):
    assert root.create_exclusive("x/flag.json", b"first")
    assert not root.create_exclusive("x/flag.json", b"second")
    assert root.read_bytes("x/flag.json") == b"first"


def test_create_exclusive_under_contention_has_one_winner(tmp_path):
    # Local only: a hard link is atomic. moto's conditional PUT is a check and then a write, which
    # the lease makes up for by reading its generation back (the lease tests below run on moto too).
    root = Storage(str(tmp_path))
    winners = []

    def create(i: int) -> None:
        if root.create_exclusive("race.json", str(i).encode()):
            winners.append(i)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert root.read_bytes("race.json") == str(winners[0]).encode()


def test_lease_holders_never_overlap(root):
    inside, overlaps, entered = [0], [], []
    lock = threading.Lock()

    def work(i: int) -> None:
        with hold(root, "job", ttl_s=30, poll_s=0.05) as lease:
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
                entered.append(lease.generation)
            time.sleep(0.1)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlaps) == 1
    assert sorted(entered) == [1, 2, 3, 4]  # one generation per holder, in turn
    state = json.loads(root.read_bytes(generation_file("job", 4)))
    assert state["released"] is True


def test_a_held_lease_times_out_a_waiter_with_the_holder_named(root):
    with hold(root, "job", ttl_s=30), pytest.raises(LeaseTimeoutError, match="still held by"):
        acquire(root, "job", wait_s=0.3, poll_s=0.05)


def test_an_expired_lease_of_a_dead_holder_is_taken_over(root):
    dead = acquire(root, "job", ttl_s=0.2)  # never released, never renewed
    time.sleep(0.3)
    taken = acquire(root, "job", ttl_s=30, wait_s=5, poll_s=0.05)
    assert taken.generation == dead.generation + 1
    assert not dead.still_held()
    assert latest_generation(root, "job") == taken.generation


def test_the_heartbeat_keeps_a_short_lease_alive(root):
    with hold(root, "job", ttl_s=3.0, poll_s=0.05) as lease:
        time.sleep(4.0)  # longer than the ttl: only renewal keeps it
        with pytest.raises(LeaseTimeoutError):
            acquire(root, "job", wait_s=0.5, poll_s=0.05)
        assert lease.still_held() and not lease.lost.is_set()
