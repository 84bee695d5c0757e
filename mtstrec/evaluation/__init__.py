"""Evaluation (DESIGN §2): metrics, fixed sampled negatives, full and sampled ranking, baselines, reports."""

from mtstrec.data.example_tensors import ExampleTensors
from mtstrec.evaluation.evaluator import evaluate_scorer
from mtstrec.evaluation.metrics import metrics_from_ranks, ranking_metrics, target_ranks
from mtstrec.evaluation.negatives import load_candidates, month_candidates, sample_negatives
from mtstrec.evaluation.popularity import PopularityScorer, popularity_counts
from mtstrec.evaluation.report import write_report

__all__ = [
    "ExampleTensors",
    "PopularityScorer",
    "evaluate_scorer",
    "load_candidates",
    "metrics_from_ranks",
    "month_candidates",
    "popularity_counts",
    "ranking_metrics",
    "sample_negatives",
    "target_ranks",
    "write_report",
]
