"""Turn a DAG run's params (or `dag_run.conf`) and logical date into a PipelineConfig.

The DAG passes its params here untouched, so that onboarding a dataset, a backfill or a
crippled test run needs params only and the DAG file holds no logic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mtstrec.config import MODALITIES, PipelineConfig
from mtstrec.config_loading import ConfigError, load_config
from mtstrec.features.config import FEATURE_MODALITIES

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ("hm", "generic")
__all__ = ["LAYOUTS", "MODALITIES", "config_from_params", "partition_date"]


def partition_date(logical_date: datetime | date | None) -> date | None:
    """The day a run processes: its logical date in UTC, or None (all data) for a run without one."""
    if logical_date is None:
        return None
    if isinstance(logical_date, datetime):
        return logical_date.date() if logical_date.tzinfo is None else logical_date.astimezone(UTC).date()
    return logical_date


def resolve_config_path(path: str) -> Path | None:
    """A config path as given, or relative to the repository when it is not found from the working directory."""
    if not path:
        return None
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    in_repo = REPO_ROOT / candidate
    return in_repo if in_repo.exists() else candidate


def param_overrides(params: Mapping[str, Any]) -> list[str]:
    """`key=value` overrides for the params that map onto config keys, in a fixed order."""
    overrides: list[str] = []
    for param, key in (("root", "root"), ("dataset", "dataset"), ("raw", "ingest.raw"), ("layout", "ingest.layout")):
        if params.get(param):
            overrides.append(f"{key}={params[param]}")
    modalities = params.get("modalities")
    if modalities:
        overrides.append(f"model.modalities={','.join(modalities)}")
        extracted = [m for m in modalities if m in FEATURE_MODALITIES]
        overrides.append(f"features.modalities={','.join(extracted)}")
    if params.get("epochs"):
        overrides.append(f"train.epochs={int(params['epochs'])}")
    # Free-form overrides come last so that they win.
    overrides.extend(params.get("overrides") or [])
    return overrides


def deployment_overrides() -> list[str]:
    """`key=value` overrides every run of this deployment gets, from `MTSTREC_OVERRIDES` (a JSON list).

    For settings of the installation rather than of a run, e.g. `["train.runs_dir=/opt/mtstrec/runs"]`.
    """
    text = os.environ.get("MTSTREC_OVERRIDES", "").strip()
    if not text:
        return []
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError:
        overrides = None
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"MTSTREC_OVERRIDES must be a JSON list of 'key=value' strings, got {text!r}")
    return overrides


def config_from_params(params: Mapping[str, Any]) -> PipelineConfig:
    """Defaults, the config file `params["config"]`, `MTSTREC_OVERRIDES`, the params, then `params["overrides"]`."""
    overrides = deployment_overrides() + param_overrides(params)
    return load_config(PipelineConfig, resolve_config_path(params.get("config") or ""), overrides)
