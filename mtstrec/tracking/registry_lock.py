"""One writer at a time per registered model, across machines and Airflow deployments.

The champion decision reads the alias, compares and moves it; two promote steps interleaving
those reads and writes could both see "no champion" and both claim the alias. Registering
checks whether the run's model is already a version before adding one; two register steps of
the same run at once could both add it. Both are therefore done under a lease on the storage
root keyed on the registered model name (`<root>/_locks/registry-<name>/`): a second promote
waits, then decides against the champion the first one left (and its decision is recorded as
well); a second register finds the first one's version. An Airflow pool alone would only
serialise the tasks of one deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from mtstrec.config import PipelineConfig
from mtstrec.lease import Lease, hold
from mtstrec.storage import Storage


def lease_name(model_name: str) -> str:
    return "registry-" + quote(model_name, safe="")


@contextmanager
def registry_lock(cfg: PipelineConfig) -> Iterator[Lease]:
    """Hold the lease of `cfg.registry.model_name` for the `with` block."""
    with hold(Storage(cfg.root), lease_name(cfg.registry.model_name), ttl_s=cfg.lease.ttl_s) as lease:
        yield lease
