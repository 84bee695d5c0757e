"""Pipeline step: train MTSTRec (and its baselines) into a run directory on the storage root."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date

from mtstrec.config import PipelineConfig
from mtstrec.lease import hold
from mtstrec.training import distributed
from mtstrec.training.run import default_run_dir, train_run
from mtstrec.training.run_location import RunLocation


def train(cfg: PipelineConfig, logical_date: date | None, run_dir: str | None = None, resume: bool = False) -> dict:
    """Returns {"run_dir" (its URI), "best_epoch", "epochs_run", "val_<metric>", "baselines", "lineage"}.

    Reads the snapshot of `logical_date`. Two runs for the same directory (e.g. a nightly run and a
    backfill of the same date and config) take turns: the run directory's lease serialises them. Under
    torchrun, rank 0 holds it for the whole process group (each rank waiting for it would deadlock).
    """
    cfg = cfg.at_date(logical_date)
    location = RunLocation(run_dir or default_run_dir(cfg, logical_date))
    ctx = distributed.from_environment()
    with hold(location.parent, f"run-{location.name}", ttl_s=cfg.lease.ttl_s) if ctx.is_main else nullcontext():
        ctx.barrier()  # the other ranks start once rank 0 holds the lease
        return train_run(cfg, location.uri, resume)
