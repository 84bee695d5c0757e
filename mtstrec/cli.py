"""The `mtstrec` command.

Each pipeline-step command imports its `tasks/` function inside the command body,
so that the CLI and the Airflow DAG run the very same code (DESIGN §4).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import ConfigError, load_config

ENV_DEFAULTS = {"root": "MTSTREC_ROOT", "dataset": "MTSTREC_DATASET"}


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML or JSON pipeline config file (default: $MTSTREC_CONFIG, else the "
                        "paper's settings)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.epochs=3 (repeatable)",
    )


def _add_dataset_args(parser: argparse.ArgumentParser) -> None:
    _add_config_args(parser)
    parser.add_argument("--root", help="storage root: a local path or s3://bucket/prefix (default: $MTSTREC_ROOT, "
                        "else config key root)")
    parser.add_argument("--dataset", help="dataset name under the root (default: $MTSTREC_DATASET, else config key "
                        "dataset)")
    parser.add_argument("--date", type=date.fromisoformat, help="logical date YYYY-MM-DD (default: all data)")


def _pipeline_config(args: argparse.Namespace, extra: list[str] | None = None) -> PipelineConfig:
    """Defaults, --config (else $MTSTREC_CONFIG), $MTSTREC_OVERRIDES, $MTSTREC_ROOT/$MTSTREC_DATASET, the
    command's options, then --set: the same deployment settings as the DAG's, so that a step run in a pod
    (e.g. `mtstrec train` from the GPU pod template) lands in the deployment's storage root."""
    from tasks.pipeline_config import deployment_overrides, resolve_config_path

    overrides = deployment_overrides()
    for key in ("root", "dataset"):
        value = getattr(args, key, None) or os.environ.get(ENV_DEFAULTS[key])
        if value:
            overrides.append(f"{key}={value}")
    overrides += list(extra or [])
    config = args.config or resolve_config_path(os.environ.get("MTSTREC_CONFIG", ""))
    return load_config(PipelineConfig, config, overrides + args.overrides)


def _print_summary(summary: dict) -> None:
    print(json.dumps(summary, indent=2, default=str))


def cmd_sample_data(args: argparse.Namespace) -> None:
    from mtstrec.data.sample import generate_sample

    _print_summary(generate_sample(args.out, preset=args.preset, seed=args.seed))


def cmd_ingest(args: argparse.Namespace) -> None:
    from tasks.ingest import ingest

    extra = []
    if args.raw:
        extra.append(f"ingest.raw={args.raw}")
    if args.layout:
        extra.append(f"ingest.layout={args.layout}")
    _print_summary(ingest(_pipeline_config(args, extra), args.date))


def cmd_sequences(args: argparse.Namespace) -> None:
    from tasks.sequences import build_sequences

    _print_summary(build_sequences(_pipeline_config(args), args.date))


def cmd_features(args: argparse.Namespace) -> None:
    from tasks.features import extract_features, extract_price_features

    extra = [f"features.modalities={','.join(args.modalities)}"] if args.modalities else []
    cfg = _pipeline_config(args, extra)
    summary = {"features": extract_features(cfg, args.date, shard=args.shard)}
    if "price" in cfg.features.modalities and args.shard is None:
        summary["price"] = extract_price_features(cfg, args.date)
    _print_summary(summary)


def cmd_train(args: argparse.Namespace) -> None:
    from tasks.train import train

    _print_summary(train(_pipeline_config(args), args.date, run_dir=args.run_dir, resume=args.resume))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from tasks.evaluate import evaluate

    _print_summary(evaluate(args.run, overrides=args.overrides))


def cmd_recommend(args: argparse.Namespace) -> None:
    from mtstrec.inference import Recommender

    recommender = Recommender.from_run(args.run)
    history = [int(x) for x in args.history.split(",") if x.strip()]
    top = recommender.recommend([history], k=args.k, exclude_seen=not args.include_seen)
    _print_summary({"history": history, "recommendations": top[0]})


def cmd_recommend_batch(args: argparse.Namespace) -> None:
    from tasks.recommend_batch import recommend_batch

    _print_summary(recommend_batch(_pipeline_config(args), args.date))


def cmd_promote(args: argparse.Namespace) -> None:
    from tasks.promote import promote

    _print_summary(promote(_pipeline_config(args), args.date, args.version, force=args.force))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtstrec", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample-data", help="write synthetic raw data in the H&M Kaggle layout (planted signal)")
    p.add_argument("--preset", choices=["tiny", "demo"], default="tiny", help="tiny (tests) or demo (quick start)")
    p.add_argument("--out", required=True, help="output directory (local path or s3://bucket/prefix)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the output is a pure function of it (default 0)")
    p.set_defaults(func=cmd_sample_data)

    p = sub.add_parser("ingest", help="raw transactions + catalog -> validated bronze Parquet")
    _add_dataset_args(p)
    p.add_argument("--raw", help="raw data directory or URI (config key: ingest.raw)")
    p.add_argument("--layout", choices=["hm", "generic"], help="raw layout (config key: ingest.layout)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sequences", help="bronze -> chronological train/val/test sequences and candidates")
    _add_dataset_args(p)
    p.set_defaults(func=cmd_sequences)

    p = sub.add_parser("features", help="bronze items -> per-modality feature tables")
    _add_dataset_args(p)
    p.add_argument("--modalities", nargs="+", help="modalities to extract (default: config features.modalities)")
    p.add_argument("--shard", type=int, help="extract one shard only (price is then skipped; default: all shards)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="train MTSTRec on a dataset's sequences and features; writes a run directory")
    _add_dataset_args(p)
    p.add_argument("--run-dir", help="run directory to write, a path or s3:// URI "
                   "(default: <root>/<dataset>/runs/<date>-<config digest>)")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run on the test split: metrics, baselines and a report")
    p.add_argument("--run", required=True, help="run directory written by `mtstrec train` (a path or s3:// URI)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an evaluation key, e.g. --set eval.sampled_negatives=50")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recommend", help="top-k items over the whole catalog for one history")
    p.add_argument("--run", required=True, help="run directory written by `mtstrec train` (a path or s3:// URI)")
    p.add_argument("--history", required=True, help="comma-separated item indexes, oldest first")
    p.add_argument("--k", type=int, default=10, help="number of items to return (default 10)")
    p.add_argument("--include-seen", action="store_true", help="allow items already in the history")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("recommend-batch", help="the champion's top-k for every active customer of a date "
                       "-> recommendations/date=D/ (default date: the latest bronze day)")
    _add_dataset_args(p)
    p.set_defaults(func=cmd_recommend_batch)

    p = sub.add_parser("promote", help="give a registered model version the champion alias if it beats the champion")
    _add_dataset_args(p)
    p.add_argument("--version", required=True, help="registered model version (registry.model_name)")
    p.add_argument("--force", action="store_true", help="skip the gate (e.g. a rollback); the tags record it")
    p.set_defaults(func=cmd_promote)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, LookupError) as exc:
        print(f"mtstrec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
