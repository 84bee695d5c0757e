"""Config of feature extraction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FeatureConfig:
    shard_size: int = 1024
