"""Evaluation report: a markdown table per protocol, the numbers as JSON, and plots.

`results` maps a model name ("MTSTRec", "popularity", "id-only", "single:style", ...)
to the flat metric dict of `evaluate_scorer` ("full/ndcg@10" -> 0.123, ...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mtstrec.evaluation.metrics import METRIC_NAMES

_KEY = re.compile(r"^(?P<protocol>[a-z]+)/(?P<metric>[a-z]+)@(?P<k>\d+)$")
_PROTOCOL_TITLES = {"full": "Full ranking (whole catalog)", "sampled": "Sampled ranking (targets + fixed negatives)"}
_DISPLAY = {"ndcg": "NDCG", "hr": "HR", "mrr": "MRR"}
COMPARISON_METRIC = "full/ndcg@10"


def write_report(
    out_dir: Path, results: dict[str, dict[str, float]], history: list[dict] | None, title: str
) -> dict[str, Path]:
    """Write report.md, report.json and the plots; return their paths by kind.

    Kinds: "markdown", "json", "curves" (only with a non-empty history),
    "comparison" (only when some model has full/ndcg@10).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "json": out_dir / "report.json"}
    paths["markdown"].write_text(render_markdown(results, title))
    paths["json"].write_text(json.dumps({"title": title, "results": results, "history": history or []}, indent=2))
    if history:
        paths["curves"] = out_dir / "training_curves.png"
        _plot_training_curves(history, paths["curves"], title)
    if any(COMPARISON_METRIC in metrics for metrics in results.values()):
        paths["comparison"] = out_dir / "model_comparison.png"
        _plot_comparison(results, paths["comparison"], title)
    return paths


def render_markdown(results: dict[str, dict[str, float]], title: str) -> str:
    """One table per protocol: rows are models, columns NDCG/HR/MRR at each k."""
    parsed = {
        model: {m.group("protocol", "metric", "k"): value for key, value in metrics.items() if (m := _KEY.match(key))}
        for model, metrics in results.items()
    }
    lines = [f"# {title}", ""]
    protocols = sorted({p for cells in parsed.values() for p, _, _ in cells}, key=lambda p: (p != "full", p))
    for protocol in protocols:
        columns = sorted(
            {(metric, int(k)) for cells in parsed.values() for p, metric, k in cells if p == protocol},
            key=lambda c: (METRIC_NAMES.index(c[0]) if c[0] in METRIC_NAMES else len(METRIC_NAMES), c[0], c[1]),
        )
        lines += [f"## {_PROTOCOL_TITLES.get(protocol, protocol)}", ""]
        lines.append("| model | " + " | ".join(f"{_DISPLAY.get(m, m)}@{k}" for m, k in columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for model, cells in parsed.items():
            values = [cells.get((protocol, metric, str(k))) for metric, k in columns]
            lines.append(f"| {model} | " + " | ".join("–" if v is None else f"{v:.4f}" for v in values) + " |")
        lines.append("")
    if not protocols:
        lines += ["No metrics.", ""]
    return "\n".join(lines)


def _plot_training_curves(history: list[dict], path: Path, title: str) -> None:
    epochs = [entry["epoch"] for entry in history]
    val_keys = sorted({key for entry in history for key in entry if key.startswith("val_")})
    figure = Figure(figsize=(10, 4))
    loss_axes, val_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [entry.get("train_loss", float("nan")) for entry in history], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    for axes in (loss_axes, val_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for key in val_keys:
        val_axes.plot(epochs, [entry.get(key, float("nan")) for entry in history], marker="o", label=key[4:])
    val_axes.set(title="validation", xlabel="epoch", ylabel="metric")
    if val_keys:
        val_axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _plot_comparison(results: dict[str, dict[str, float]], path: Path, title: str) -> None:
    models = [model for model, metrics in results.items() if COMPARISON_METRIC in metrics]
    values = [results[model][COMPARISON_METRIC] for model in models]
    figure = Figure(figsize=(max(4.0, 1.2 * len(models)), 4))
    axes = figure.subplots()
    bars = axes.bar(models, values)
    axes.bar_label(bars, fmt="%.4f")
    axes.set(title=f"{title}: {COMPARISON_METRIC}", ylabel=COMPARISON_METRIC)
    axes.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
