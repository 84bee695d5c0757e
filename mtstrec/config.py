"""Typed configs of the model, training, evaluation and the whole pipeline.

Defaults are the paper's (DESIGN §1). `load_config(PipelineConfig, path, overrides)`
reads a TOML or JSON file and `key=value` overrides such as `train.epochs=3`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from mtstrec.config_loading import CommaList
from mtstrec.data.config import IngestConfig, SequenceConfig
from mtstrec.features.config import FeatureConfig
from mtstrec.serving.config import ServeConfig
from mtstrec.storage import Storage

MODALITIES = ("id", "style", "image", "text", "prompt", "price")


@dataclass
class EncoderConfig:
    """One modality's own transformer stack (before the shared fusion layers)."""

    blocks: int = 2
    heads: int = 8
    ffn: int = 1024
    hidden_dropout: float = 0.2
    # Width of the modality's output head; 0 means d_model. The paper's price head is 1 wide.
    head_dim: int = 0


def _paper_encoders() -> dict[str, EncoderConfig]:
    return {
        "id": EncoderConfig(blocks=2, heads=4, ffn=512, hidden_dropout=0.1),
        "style": EncoderConfig(blocks=4, heads=8, ffn=2048, hidden_dropout=0.3),
        "image": EncoderConfig(blocks=4, heads=8, ffn=2048, hidden_dropout=0.3),
        "text": EncoderConfig(blocks=2, heads=8, ffn=1024, hidden_dropout=0.2),
        "prompt": EncoderConfig(blocks=2, heads=8, ffn=1024, hidden_dropout=0.2),
        "price": EncoderConfig(blocks=2, heads=1, ffn=512, hidden_dropout=0.1, head_dim=1),
    }


@dataclass
class ModelConfig:
    modalities: CommaList[str] = field(default_factory=lambda: list(MODALITIES))
    d_model: int = 512
    max_len: int = 20
    fusion_layers: int = 3
    attn_dropout: float = 0.1
    encoders: dict[str, EncoderConfig] = field(default_factory=_paper_encoders)
    # The paper encodes candidates without gradient (stop-gradient on the item side).
    candidate_grad: bool = False
    # Feature tag per modality under features/<modality>/<tag>/; "" takes the only tag present.
    feature_tags: dict[str, str] = field(default_factory=dict)
    # Expected per-item feature shape per modality (e.g. text = [384], prompt = [5, 384]); empty = as found.
    feature_shapes: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            raise ValueError(f"model.modalities: unknown modality {unknown}; choose from {list(MODALITIES)}")
        if not self.modalities:
            raise ValueError("model.modalities: at least one modality must be active")
        missing = [m for m in self.modalities if m not in self.encoders]
        if missing:
            raise ValueError(f"model.encoders: no encoder settings for {missing}")


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-5
    weight_decay: float = 5e-6
    lr_step: int = 10
    lr_gamma: float = 0.9
    patience: int = 10
    negatives: int = 100
    # The paper's: negatives from the target month's items on sale, minus the example's history and targets.
    negative_source: Literal["month", "catalog"] = "month"
    # full_softmax scores every catalog item (no sampled negatives); single-process only.
    loss: Literal["bce", "sampled_softmax", "full_softmax"] = "bce"
    # Scores are cosine similarities in [-1, 1]; the paper feeds them to the loss unscaled (1.0).
    logit_scale: float = 1.0
    seed: int = 0
    device: str = "auto"
    # auto: bf16 autocast on CUDA; on a CPU, bf16 only if a start-up probe shows it faster (logged).
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # torch.compile of the training step; auto compiles on CUDA only (mtstrec/training/compiled.py).
    compile: Literal["auto", "on", "off"] = "auto"
    val_metric: str = "full/ndcg@5"
    # Also train each active modality alone and an ID-only SASRec with full-catalog cross-entropy.
    baselines: bool = True
    # Where run directories go; empty means <root>/<dataset>/runs (a local root is required then).
    runs_dir: str = ""


@dataclass
class EvalConfig:
    ks: CommaList[int] = field(default_factory=lambda: [5, 10, 20])
    sampled_negatives: int = 100
    negatives_seed: int = 2025
    exclude_history: bool = True
    batch_size: int = 256
    # Recency popularity counts the purchases of the last `recent_days` days before the split.
    recent_days: int = 7


@dataclass
class RegistryConfig:
    """MLflow tracking and the champion gate (see mtstrec/tracking/settings.py for the defaults)."""

    # "" uses MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db.
    tracking_uri: str = ""
    # Artifact location of a newly created experiment, e.g. s3://bucket/mlartifacts; "" uses the default.
    artifact_location: str = ""
    experiment: str = "mtstrec"
    model_name: str = "mtstrec"
    alias: str = "champion"
    # Validation metric of the MTSTRec model that decides promotion; higher is better. Test is only reported.
    metric: str = "full/ndcg@10"
    # The candidate must beat the champion by more than this on the same validation split.
    margin: float = 0.0


@dataclass
class LeaseConfig:
    """Leases that let one writer at a time change what runs share (docs/operations.md, "Concurrency guarantees")."""

    # A holder renews its lease every ttl_s / 3; the lease of a holder that died is taken over ttl_s after its
    # last renewal. Keep it far above the clock skew between machines.
    ttl_s: float = 600.0

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError(f"lease.ttl_s must be > 0, got {self.ttl_s}")


@dataclass
class PipelineConfig:
    root: str = "data"
    dataset: str = "demo"
    ingest: IngestConfig = field(default_factory=IngestConfig)
    sequences: SequenceConfig = field(default_factory=SequenceConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    # Logical date (YYYY-MM-DD) whose snapshot the run reads and writes; "" = the undated top-level files.
    # Set by the pipeline steps from the run's date (`at_date`), recorded in a run's config.json.
    snapshot: str = ""

    def __post_init__(self) -> None:
        if self.snapshot:
            try:
                date.fromisoformat(self.snapshot)
            except ValueError as exc:
                raise ValueError(f"snapshot: {self.snapshot!r} is not a YYYY-MM-DD date") from exc

    def at_date(self, logical_date: date | None) -> PipelineConfig:
        """This config reading and writing the snapshot of `logical_date` (None: the undated files)."""
        return dataclasses.replace(self, snapshot=logical_date.isoformat() if logical_date else "")

    def dataset_storage(self) -> Storage:
        """`<root>/<dataset>`: where every contract file of this dataset lives; with `snapshot` set, the
        files that depend on the date (`storage.DATED_PATHS`) resolve into `snapshots/date=<snapshot>/`."""
        dataset = Storage(self.root).child(self.dataset)
        return dataset.dated(self.snapshot) if self.snapshot else dataset
