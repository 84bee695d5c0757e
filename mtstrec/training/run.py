"""A training run: the MTSTRec model and its single-modality baselines, in one run directory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import date
from pathlib import Path

from mtstrec.config import LeaseConfig, ModelConfig, PipelineConfig
from mtstrec.config_loading import from_dict, to_dict
from mtstrec.storage import Storage
from mtstrec.training import distributed
from mtstrec.training.inputs import load_run_inputs
from mtstrec.training.loop import fit
from mtstrec.training.run_location import COMPLETE_MARKER, RunLocation
from mtstrec.training.sasrec_fit import fit_sasrec

log = logging.getLogger(__name__)

MAIN_MODEL = "MTSTRec"
SASREC_MODEL = "SASRec-CE"


def config_digest(cfg: PipelineConfig) -> str:
    """Digest of what shapes the run: the config without the snapshot date (the run directory name carries
    it) and without the lease settings."""
    undated = dataclasses.replace(cfg, snapshot="", lease=LeaseConfig())
    return hashlib.sha256(json.dumps(to_dict(undated), sort_keys=True).encode()).hexdigest()[:8]


def default_run_dir(cfg: PipelineConfig, logical_date: date | None) -> str:
    """`<runs>/<date>-<config digest>` on the storage root (or `train.runs_dir`): re-running a date with the
    same config reuses its directory."""
    runs = Storage(cfg.train.runs_dir) if cfg.train.runs_dir else cfg.dataset_storage()
    return runs.uri("runs" if not cfg.train.runs_dir else "",
                    f"{logical_date.isoformat() if logical_date else 'all'}-{config_digest(cfg)}")


def variant_dirs(run_dir: Path) -> dict[str, Path]:
    """Model name -> directory holding its `model.pt`: the main model first, then the baselines."""
    found = {MAIN_MODEL: run_dir}
    variants = run_dir / "variants"
    if variants.exists():
        found.update({p.name: p for p in sorted(variants.iterdir()) if (p / "model.pt").exists()})
    return found


def single_modality_model(model: ModelConfig, modality: str) -> ModelConfig:
    """`model` with only `modality`, for a single-modality baseline. A 1-wide head (the paper's price
    head) is widened to d: alone, the cosine of 1-d vectors is only ever +1 or -1 and ranks nothing."""
    encoder = model.encoders[modality]
    if encoder.head_dim == 1:
        encoder = dataclasses.replace(encoder, head_dim=0)
    return dataclasses.replace(model, modalities=[modality], encoders={**model.encoders, modality: encoder})


INPUTS_FILE = "inputs.json"


def _same_run(location: RunLocation, cfg: PipelineConfig, digest: str) -> bool:
    """Whether `location` holds a run (complete or not) of this config on these inputs."""
    if not (location.exists("config.json") and location.exists(INPUTS_FILE)):
        return False
    config = from_dict(PipelineConfig, json.loads(location.storage.read_bytes("config.json")))
    inputs = json.loads(location.storage.read_bytes(INPUTS_FILE))
    return inputs.get("inputs_digest") == digest and config_digest(config) == config_digest(cfg)


def train_run(cfg: PipelineConfig, run: str | Path, resume: bool = False) -> dict:
    """Train into the run directory `run` (a local path or URI); it is marked complete only when every
    model has finished. The local copy is pushed to the URI after every epoch, so a resume on another
    machine continues from the last finished epoch.

    The run records its config and a digest of its inputs (`RunInputs.digest`). Called again for the same
    directory, config and inputs, a complete run is kept as it is (re-running a date trains nothing, and a
    reader of the directory, such as the evaluation of an overlapping run of the same date, never sees it
    rewritten) and an interrupted one resumes from its last checkpoint, on whatever machine.
    """
    location = RunLocation(run)
    if resume and not location.exists("checkpoint.pt"):
        raise FileNotFoundError(f"{location.storage.uri('checkpoint.pt')} does not exist: nothing to resume")
    ctx = distributed.from_environment()
    dataset = cfg.dataset_storage()
    inputs = load_run_inputs(dataset, cfg.model, ("train", "val"))
    digest = inputs.digest()
    same = not resume and _same_run(location, cfg, digest)
    complete = same and location.exists(COMPLETE_MARKER) and location.exists("summary.json")
    interrupted = same and not complete and location.exists("checkpoint.pt")
    ctx.barrier()  # every rank has looked before rank 0 changes anything
    if complete:
        log.info("%s is already complete for this config and these inputs: kept, not retrained", location.uri)
        return json.loads(location.storage.read_bytes("summary.json"))
    if interrupted:
        log.info("%s was interrupted: resuming from its last checkpoint", location.uri)
        resume = True
    run_dir = location.local
    if ctx.is_main:
        if resume:
            location.pull()
            location.delete(COMPLETE_MARKER)
        else:
            location.clear()
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
        (run_dir / INPUTS_FILE).write_text(json.dumps({"inputs_digest": digest}, indent=2))
        location.push()
    ctx.barrier()

    result = fit(cfg.model, cfg.train, inputs, run_dir, resume, on_checkpoint=location.push)
    baselines = {}
    if cfg.train.baselines and len(cfg.model.modalities) > 1:
        for modality in cfg.model.modalities:
            name = f"{modality}-only"
            variant_cfg = single_modality_model(cfg.model, modality)
            variant_dir = run_dir / "variants" / name
            if ctx.is_main:
                variant_dir.mkdir(parents=True, exist_ok=True)
            ctx.barrier()
            variant_resume = resume and (variant_dir / "checkpoint.pt").exists()
            baseline = fit(variant_cfg, cfg.train, inputs, variant_dir, variant_resume, on_checkpoint=location.push)
            baselines[name] = {"best_epoch": baseline.best_epoch, f"val_{cfg.train.val_metric}": baseline.best_metric}
    if cfg.train.baselines and ctx.is_main:
        sasrec_dir = run_dir / "variants" / SASREC_MODEL
        baseline = fit_sasrec(cfg.model, cfg.train, inputs, dataset, sasrec_dir, resume)
        baselines[SASREC_MODEL] = {"best_epoch": baseline.best_epoch,
                                   f"val_{cfg.train.val_metric}": baseline.best_metric}
    ctx.barrier()
    summary = {
        "run_dir": location.uri,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        f"val_{cfg.train.val_metric}": result.best_metric,
        "baselines": baselines,
        "lineage": inputs.lineage,
    }
    if ctx.is_main:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        (run_dir / COMPLETE_MARKER).write_text(json.dumps({"best_epoch": result.best_epoch}))
        location.push()
    ctx.barrier()
    return summary
