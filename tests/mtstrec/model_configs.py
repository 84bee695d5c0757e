"""A small, fast model config shared by the library tests."""

from __future__ import annotations

from mtstrec.config import PipelineConfig
from mtstrec.config_loading import load_config

SMALL_MODEL = [
    "model.d_model=32",
    "model.fusion_layers=2",
    "model.attn_dropout=0.0",
    *[f"model.encoders.{m}.{k}" for m in ("id", "style", "image", "text", "prompt", "price")
      for k in ("blocks=1", "ffn=64", "hidden_dropout=0.0")],
    *[f"model.encoders.{m}.heads=2" for m in ("id", "style", "image", "text", "prompt")],
    "train.lr=0.003",
    "train.logit_scale=5",
    "train.batch_size=64",
    "train.negatives=20",
    "train.baselines=false",
]


def small_config(root: str, dataset: str, *overrides: str) -> PipelineConfig:
    return load_config(PipelineConfig, None, [f"root={root}", f"dataset={dataset}", *SMALL_MODEL, *overrides])
