"""Pipeline step: evaluate a training run on the test split and write its report."""

from __future__ import annotations

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import apply_overrides, from_dict, read_config_file
from mtstrec.evaluation.run import evaluate_run
from mtstrec.training.run_location import RunLocation


def evaluate(run_dir: str, overrides: list[str] | None = None) -> dict:
    """The run's own config (from config.json, snapshot date included) with optional `key=value` overrides.

    `run_dir` is a local path or URI; metrics.json and report/ are written back to it, and the
    report paths returned are URIs.
    """
    location = RunLocation(run_dir)
    local = location.pull()
    data = apply_overrides(read_config_file(local / "config.json"), list(overrides or []))
    result = evaluate_run(local, from_dict(PipelineConfig, data))
    location.push()
    return {**result, "report": {kind: location.to_uri(path) for kind, path in result["report"].items()}}
