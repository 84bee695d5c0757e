"""Checkpoints as single files, written atomically and read with weights_only=True."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mtstrec.config_loading import to_dict


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temp file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    write(temp)
    os.replace(temp, path)


def _save_to(payload: dict[str, Any], temp: Path) -> None:
    # Through a file object, not the path: torch names the archive inside the file after the path it is given,
    # and the temp name would make the bytes of two saves of the same payload differ.
    with temp.open("wb") as out:
        torch.save(payload, out)


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    _replace(path, lambda temp: _save_to(payload, temp))


def write_text_atomic(text: str, path: Path) -> None:
    _replace(path, lambda temp: temp.write_text(text))


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return torch.load(path, map_location=device, weights_only=True)


def model_payload(model: torch.nn.Module, feature_tags: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """What `inference.load_model` needs to rebuild the model, plus the weights."""
    return {
        "model_config": to_dict(model.config),
        "num_items": model.num_items,
        "item_shapes": model.item_shapes,
        "feature_tags": feature_tags,
        "state_dict": model.state_dict(),
        **extra,
    }
