"""The paper's image style vector: Gram matrices of early CNN feature maps.

MTSTRec takes VGG19's conv1 and conv2 maps (64 channels each), forms each 64 x 64 Gram
matrix, normalises it, max-pools it 4 x 4 down to 16 x 16 = 256 values and concatenates
the two into 512 values. The same recipe runs on any CNN here: each C x C Gram matrix is
max-pooled to `grid` x `grid` (adaptive pooling, which is exactly a 4 x 4 pool for C = 64
and grid = 16), so the vector has len(layers) * grid**2 values.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


def gram_matrix(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C), normalised by C*H*W so that image size does not change the scale."""
    batch, channels, height, width = feature_map.shape
    flat = feature_map.float().reshape(batch, channels, height * width)  # (B, C, HW)
    return flat @ flat.transpose(1, 2) / (channels * height * width)  # (B, C, C)


def gram_style_vector(feature_maps: list[torch.Tensor], grid: int) -> torch.Tensor:
    """Feature maps of one batch -> (B, len(feature_maps) * grid * grid) float32 style vectors."""
    parts = []
    for feature_map in feature_maps:
        gram = gram_matrix(feature_map).unsqueeze(1)  # (B, 1, C, C)
        pooled = F.adaptive_max_pool2d(gram, grid)  # (B, 1, grid, grid)
        parts.append(pooled.flatten(1))  # (B, grid*grid)
    return torch.cat(parts, dim=1)


class _EarlyMapsReadyError(Exception):
    """Raised by the last hook: the rest of the CNN is not needed."""


class GramStyleEncoder(nn.Module):
    """Any CNN, read at the named modules by forward hooks, followed by the Gram recipe.

    Hooks work on every architecture (FX tracing fails on models with data-dependent control
    flow, e.g. timm's VGG head), and the forward pass stops once the last needed map exists.
    """

    def __init__(self, cnn: nn.Module, layers: list[str], grid: int) -> None:
        super().__init__()
        self.cnn = cnn
        self.layers = list(layers)
        self.grid = grid
        modules = dict(cnn.named_modules())
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            raise ValueError(f"features.style.layers: no module {unknown} in the CNN; early modules are "
                             f"{[n for n in modules if n][:12]}")
        self._modules_by_name = {name: modules[name] for name in self.layers}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, len(layers) * grid**2) float32."""
        maps: dict[str, torch.Tensor] = {}

        def keep(name: str):
            def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
                maps[name] = output
                if len(maps) == len(self.layers):
                    raise _EarlyMapsReadyError

            return hook

        handles = [module.register_forward_hook(keep(name)) for name, module in self._modules_by_name.items()]
        try:
            with contextlib.suppress(_EarlyMapsReadyError):
                self.cnn(images)
        finally:
            for handle in handles:
                handle.remove()
        # The Gram products run in float32 even under autocast: bf16 sums of H*W products lose the style signal.
        with torch.autocast(device_type=images.device.type, enabled=False):
            return gram_style_vector([maps[name] for name in self.layers], self.grid)
