"""Pipeline step: evaluate a training run on the test split and write its report."""

from __future__ import annotations

from pathlib import Path

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import apply_overrides, from_dict, read_config_file
from mtstrec.evaluation.run import evaluate_run


def evaluate(run_dir: str, overrides: list[str] | None = None) -> dict:
    """The run's own config (from config.json) with optional `key=value` overrides."""
    data = apply_overrides(read_config_file(Path(run_dir) / "config.json"), list(overrides or []))
    return evaluate_run(Path(run_dir), from_dict(PipelineConfig, data))
