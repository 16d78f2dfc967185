"""Named model sizes (pure: no torch). train/model.py turns one into a transformers model.

Llama shapes (RMSNorm, SwiGLU, RoPE, tied embeddings). A proxy is named by its NON-EMBEDDING
parameters, what scaling and transfer results are stated in (DataDecide, Olmix: rankings at
>= 15M non-embedding parameters transfer to 1B), so the name holds at any vocabulary; the total
adds vocab x hidden (at a 50k vocabulary: +13M for proxy-4m, +45M for proxy-150m).

| size | hidden | layers | heads | ffn | non-embedding | total at 50,257 |
|---|---|---|---|---|---|---|
| tiny | 64 | 2 | 4 | 192 | 0.11M | 3.3M (tests) |
| demo | 128 | 4 | 4 | 384 | 0.85M | 7.3M (CPU demo) |
| proxy-4m | 256 | 6 | 4 | 688 | 4.7M | 17.6M |
| proxy-15m | 384 | 8 | 6 | 1024 | 14.2M | 33.5M |
| proxy-30m | 512 | 10 | 8 | 1376 | 31.6M | 57.4M |
| proxy-60m | 640 | 12 | 10 | 1728 | 59.5M | 91.7M |
| proxy-150m | 896 | 16 | 14 | 2432 | 156M | 201M |
| paper-470m | 1024 | 24 | 16 | 2816 | 308M | 360M (the paper's 470M counts its 256k vocabulary) |

(``core/costs.py``'s ``non_embedding_params`` / ``total_params`` compute the columns; a unit test
checks the names.) Until 2026-11 the ladder was proxy-20m / 60m / 150m, named by totals at no
particular vocabulary: they held 14M / 41M / 113M non-embedding parameters.
"""

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
    # head dim 64, ffn ~2.7 x hidden (SwiGLU's 8/3), depth growing with width (DataDecide-like)
    "proxy-4m": ModelSize(hidden=256, layers=6, heads=4, intermediate=688),
    "proxy-15m": ModelSize(hidden=384, layers=8, heads=6, intermediate=1024),
    "proxy-30m": ModelSize(hidden=512, layers=10, heads=8, intermediate=1376),
    "proxy-60m": ModelSize(hidden=640, layers=12, heads=10, intermediate=1728),
    "proxy-150m": ModelSize(hidden=896, layers=16, heads=14, intermediate=2432),
    "paper-470m": ModelSize(hidden=1024, layers=24, heads=16, intermediate=2816),
}
PROXY_LADDER = ("proxy-4m", "proxy-15m", "proxy-30m", "proxy-60m", "proxy-150m")
