"""Named model sizes (pure: no torch). train/model.py turns one into a transformers model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    hidden: int
    layers: int
    heads: int
    intermediate: int

    def __post_init__(self):
        if self.hidden % self.heads:
            raise ValueError("hidden must be divisible by heads")


SIZES = {
    "tiny": ModelSize(hidden=64, layers=2, heads=4, intermediate=192),
    "demo": ModelSize(hidden=128, layers=4, heads=4, intermediate=384),
    "proxy-20m": ModelSize(hidden=384, layers=8, heads=6, intermediate=1024),
    "proxy-60m": ModelSize(hidden=512, layers=12, heads=8, intermediate=1536),
    "proxy-150m": ModelSize(hidden=768, layers=16, heads=12, intermediate=2048),
    "paper-470m": ModelSize(hidden=1024, layers=24, heads=16, intermediate=2816),
}
