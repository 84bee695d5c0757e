"""Evaluate a finished run: every model of the run and the baselines on the test split, MTSTRec on
validation (the promotion gate's split), and a report.

Baselines see only data from before the start of the split they are scored on: popularity
counts every purchase before it, recency popularity those of its last `eval.recent_days` days,
and the trained baselines (single modalities, SASRec-CE) learned from examples before val_start.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import torch

from mtstrec.config import PipelineConfig
from mtstrec.data.bronze import scan_transactions
from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.errors import DataError
from mtstrec.evaluation.evaluator import Scorer, evaluate_scorer
from mtstrec.evaluation.negatives import sample_negatives
from mtstrec.evaluation.popularity import PopularityScorer, popularity_counts
from mtstrec.evaluation.report import write_report
from mtstrec.inference import CatalogScorer, load_model
from mtstrec.sasrec import SASRec, SASRecConfig
from mtstrec.storage import Storage
from mtstrec.training import checkpoint
from mtstrec.training.device import resolve_device
from mtstrec.training.inputs import RunInputs, load_run_inputs
from mtstrec.training.run import COMPLETE_MARKER, MAIN_MODEL, variant_dirs

log = logging.getLogger(__name__)

POPULARITY = "popularity"
RECENT_POPULARITY = "recency popularity"


def stored_feature_tags(run_dir: Path) -> dict[str, str]:
    """The feature tag per modality that the run's main model was trained with (from its model.pt)."""
    payload = checkpoint.load(run_dir / "model.pt")
    tags = payload.get("feature_tags")
    if tags is None:
        raise DataError(f"{run_dir / 'model.pt'} records no feature tags; retrain the run or set "
                        "model.feature_tags.<modality> by hand")
    return dict(tags)


def popularity_baselines(dataset: Storage, num_items: int, split_start: date, recent_days: int) -> dict[str, Scorer]:
    """Popularity and recency popularity from the bronze purchases before `split_start`."""
    transactions = scan_transactions(dataset, end=split_start)
    return {
        POPULARITY: PopularityScorer(popularity_counts(transactions, num_items, split_start)),
        RECENT_POPULARITY: PopularityScorer(popularity_counts(transactions, num_items, split_start, recent_days)),
    }


def model_scorer(model_dir: Path, inputs: RunInputs, device: torch.device) -> Scorer:
    """The scorer of a trained model directory: MTSTRec (or an ablation) or SASRec-CE."""
    payload = checkpoint.load(model_dir / "model.pt", device)
    if payload.get("kind") == "sasrec":
        model = SASRec(SASRecConfig(**payload["sasrec_config"]), payload["num_items"])
        model.load_state_dict(payload["state_dict"])
        model.to(device).eval()
        return lambda histories: model.score_catalog(histories.to(device))
    model, _ = load_model(model_dir / "model.pt", device)
    return CatalogScorer(model, inputs.store.to(device), device)


def evaluate_run(run_dir: Path, cfg: PipelineConfig) -> dict:
    """Returns {"metrics": {model: {metric: value}} on test, "validation": {MTSTRec: {...}},
    "report": {kind: path}, "test_examples": int, "val_examples": int}."""
    if not (run_dir / COMPLETE_MARKER).exists():
        raise DataError(f"{run_dir} is not a complete training run (no {COMPLETE_MARKER} marker)")
    dataset = cfg.dataset_storage()
    model_cfg = cfg.model
    model_cfg.feature_tags = stored_feature_tags(run_dir)
    inputs = load_run_inputs(dataset, model_cfg, ("val", "test"))
    device = resolve_device(cfg.train.device)
    starts = {"val": inputs.cuts.val_start, "test": inputs.cuts.test_start}

    def run(scorer: Scorer, split: str) -> dict[str, float]:
        examples: ExampleTensors = inputs.splits[split]
        return evaluate_scorer(scorer, examples, negatives[split], inputs.num_items, cfg.eval.ks,
                               cfg.eval.batch_size, cfg.eval.exclude_history)

    negatives = {
        split: sample_negatives(e.target_months, e.histories, e.targets, inputs.candidates, inputs.num_items,
                                cfg.eval.sampled_negatives, cfg.eval.negatives_seed)
        for split, e in inputs.splits.items()
    }
    results: dict[str, dict[str, float]] = {}
    validation: dict[str, dict[str, float]] = {}
    for name, model_dir in variant_dirs(run_dir).items():
        scorer = model_scorer(model_dir, inputs, device)
        results[name] = run(scorer, "test")
        if name == MAIN_MODEL:
            validation[name] = run(scorer, "val")
        del scorer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for name, scorer in popularity_baselines(dataset, inputs.num_items, starts["test"], cfg.eval.recent_days).items():
        results[name] = run(scorer, "test")
    history = json.loads((run_dir / "history.json").read_text())
    test = inputs.splits["test"]
    title = f"MTSTRec on {cfg.dataset} ({'+'.join(cfg.model.modalities)}), {len(test):,} test examples"
    report = write_report(run_dir / "report", results, history, title)
    (run_dir / "metrics.json").write_text(json.dumps({"test": results, "validation": validation}, indent=2))
    log.info("evaluated %d models on %s test examples; %s full/ndcg@10 = %.4f (validation %.4f)", len(results),
             f"{len(test):,}", MAIN_MODEL, results[MAIN_MODEL].get("full/ndcg@10", float("nan")),
             validation[MAIN_MODEL].get("full/ndcg@10", float("nan")))
    return {"metrics": results, "validation": validation, "report": {k: str(v) for k, v in report.items()},
            "test_examples": len(test), "val_examples": len(inputs.splits["val"])}
