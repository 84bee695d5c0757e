"""Evaluate a finished run on the test split: every model of the run, popularity, and a report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from mtstrec.config import PipelineConfig
from mtstrec.errors import DataError
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.evaluation.negatives import load_candidates, sample_negatives
from mtstrec.evaluation.popularity import PopularityScorer
from mtstrec.evaluation.report import write_report
from mtstrec.inference import CatalogScorer, load_model
from mtstrec.training.device import resolve_device
from mtstrec.training.inputs import load_run_inputs
from mtstrec.training.run import COMPLETE_MARKER, MAIN_MODEL, variant_dirs

log = logging.getLogger(__name__)


def evaluate_run(run_dir: Path, cfg: PipelineConfig) -> dict:
    """Returns {"metrics": {model: {metric: value}}, "report": {kind: path}, "test_examples": int}."""
    if not (run_dir / COMPLETE_MARKER).exists():
        raise DataError(f"{run_dir} is not a complete training run (no {COMPLETE_MARKER} marker)")
    dataset = cfg.dataset_storage()
    inputs = load_run_inputs(dataset, cfg.model, ("test",))
    test = inputs.splits["test"]
    negatives = sample_negatives(test.target_months, test.histories, test.targets, load_candidates(dataset),
                                 inputs.num_items, cfg.eval.sampled_negatives, cfg.eval.negatives_seed)
    device = resolve_device(cfg.train.device)
    store = inputs.store.to(device)

    def run(scorer) -> dict[str, float]:
        return evaluate_scorer(scorer, test, negatives, inputs.num_items, cfg.eval.ks, cfg.eval.batch_size,
                               cfg.eval.exclude_history)

    results: dict[str, dict[str, float]] = {}
    for name, model_dir in variant_dirs(run_dir).items():
        model, _ = load_model(model_dir / "model.pt", device)
        results[name] = run(CatalogScorer(model, store, device))
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    results["popularity"] = run(PopularityScorer.from_table(dataset.read_parquet("sequences/train.parquet"),
                                                            inputs.num_items))
    history = json.loads((run_dir / "history.json").read_text())
    title = f"MTSTRec on {cfg.dataset} ({'+'.join(cfg.model.modalities)}), {len(test):,} test examples"
    report = write_report(run_dir / "report", results, history, title)
    (run_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    log.info("evaluated %d models on %s test examples; %s full/ndcg@10 = %.4f", len(results), f"{len(test):,}",
             MAIN_MODEL, results[MAIN_MODEL].get("full/ndcg@10", float("nan")))
    return {"metrics": results, "report": {k: str(v) for k, v in report.items()}, "test_examples": len(test)}
