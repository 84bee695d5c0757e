"""Pipeline step: train MTSTRec (and its baselines) into a run directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from mtstrec.config import PipelineConfig
from mtstrec.training.run import default_run_dir, train_run


def train(cfg: PipelineConfig, logical_date: date | None, run_dir: str | None = None, resume: bool = False) -> dict:
    """Returns {"run_dir", "best_epoch", "epochs_run", "val_<metric>", "baselines", "lineage"}."""
    target = Path(run_dir) if run_dir else default_run_dir(cfg, logical_date)
    return train_run(cfg, target, resume)
