"""Leases on the storage root: mutual exclusion between tasks on any machine, local or S3.

A lease named N is a sequence of generation files `_locks/N/<generation>.json`, each
`{"owner", "expires_at", "released"}`. Acquiring creates generation g+1 with a conditional
create (`Storage.create_exclusive`: a hard link locally, `If-None-Match: *` on S3), and only
when generation g is released or expired, so at most one creator wins each generation. The
holder renews `expires_at` from a heartbeat thread and marks its file released at the end; a
holder that died stops renewing and its lease is taken over once it expires. The generation
is a fencing number: decisions made under a lease can record it.

Expiry compares wall clocks of different machines: keep `ttl_s` far above any clock skew.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mtstrec.storage import Storage

log = logging.getLogger(__name__)

LOCKS_DIR = "_locks"
DEFAULT_TTL_S = 600.0
DEFAULT_WAIT_S = 6 * 3600.0
CONFIRM_S = 0.2


class LeaseTimeoutError(TimeoutError):
    """The lease stayed held by someone else for longer than the caller would wait."""


@dataclass
class Lease:
    storage: Storage
    name: str
    generation: int
    owner: str
    ttl_s: float
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def rel(self) -> str:
        return generation_file(self.name, self.generation)

    @property
    def uri(self) -> str:
        return self.storage.uri(self.rel)

    def write(self, released: bool = False) -> None:
        self.storage.write_bytes(self.rel, _state(self.owner, self.ttl_s, released))

    def still_held(self) -> bool:
        """False once a later generation exists (this holder stalled past its expiry and was replaced)."""
        return latest_generation(self.storage, self.name) == self.generation


def generation_file(name: str, generation: int) -> str:
    return posixpath.join(LOCKS_DIR, name, f"{generation:012d}.json")


def latest_generation(storage: Storage, name: str) -> int:
    files = storage.list_files(posixpath.join(LOCKS_DIR, name), ".json")
    return int(posixpath.basename(files[-1]).removesuffix(".json")) if files else 0


def _state(owner: str, ttl_s: float, released: bool) -> bytes:
    return json.dumps({"owner": owner, "expires_at": time.time() + ttl_s, "released": released}).encode()


def _read_state(storage: Storage, name: str, generation: int) -> dict | None:
    try:
        return json.loads(storage.read_bytes(generation_file(name, generation)))
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # removed or superseded meanwhile: look again


_CHECKED: set[str] = set()


def check_conditional_create(storage: Storage) -> None:
    """Fail loudly if the store ignores conditional creates (an object store without `If-None-Match`
    support would let two holders in); checked once per process and root."""
    if storage.uri() in _CHECKED:
        return
    probe = posixpath.join(LOCKS_DIR, ".probe", uuid.uuid4().hex)
    try:
        if not storage.create_exclusive(probe, b"1") or storage.create_exclusive(probe, b"2"):
            raise RuntimeError(f"{storage.uri()} does not honour conditional creates (S3 If-None-Match: *); "
                               "leases need them: use AWS S3, a recent MinIO or moto")
    finally:
        storage.delete(probe)
    _CHECKED.add(storage.uri())


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _confirmed(lease: Lease) -> bool:
    """On S3, read the new generation back after a pause: a store whose conditional PUT is a check followed
    by a write (moto's threaded server) can let a racing PUT land just after ours; the last writer wins."""
    if not lease.storage.is_s3:
        return True  # a hard link is atomic
    time.sleep(CONFIRM_S)
    state = _read_state(lease.storage, lease.name, lease.generation)
    return state is not None and state["owner"] == lease.owner


def acquire(storage: Storage, name: str, ttl_s: float = DEFAULT_TTL_S, wait_s: float = DEFAULT_WAIT_S,
            poll_s: float = 0.5) -> Lease:
    """Block until this process holds lease `name` under `storage`; LeaseTimeoutError after `wait_s`."""
    check_conditional_create(storage)
    owner = _owner()
    deadline = time.monotonic() + wait_s
    announced = False
    while True:
        current = latest_generation(storage, name)
        state = _read_state(storage, name, current) if current else {"released": True}
        if state is not None and (state["released"] or state["expires_at"] < time.time()):
            if current and not state["released"]:
                log.warning("lease %s: taking over generation %d of %s, which expired", name, current, state["owner"])
            lease = Lease(storage, name, current + 1, owner, ttl_s)
            if storage.create_exclusive(lease.rel, _state(owner, ttl_s, False)) and _confirmed(lease):
                for old in range(max(current - 1, 1), current):  # keep the last one for the record
                    storage.delete(generation_file(name, old))
                return lease
        elif state is not None and not announced:
            log.info("waiting for lease %s, held by %s", storage.uri(LOCKS_DIR, name), state["owner"])
            announced = True
        if time.monotonic() > deadline:
            holder = state["owner"] if state else "unknown"
            raise LeaseTimeoutError(f"lease {storage.uri(LOCKS_DIR, name)} is still held by {holder} "
                                    f"after {wait_s:.0f} s")
        time.sleep(poll_s)


@contextmanager
def hold(storage: Storage, name: str, ttl_s: float = DEFAULT_TTL_S, wait_s: float = DEFAULT_WAIT_S,
         poll_s: float = 0.5) -> Iterator[Lease]:
    """Hold lease `name` for the `with` block, renewing it every ttl_s / 3 seconds."""
    lease = acquire(storage, name, ttl_s, wait_s, poll_s)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl_s / 3):
            if not lease.still_held():
                log.error("lease %s was taken over by a later generation while held", lease.uri)
                lease.lost.set()
                return
            lease.write()

    beat = threading.Thread(target=heartbeat, name=f"lease-{name}", daemon=True)
    beat.start()
    try:
        yield lease
    finally:
        stop.set()
        beat.join()
        if not lease.lost.is_set():
            lease.write(released=True)
