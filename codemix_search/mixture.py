"""Pure mapping from sampled shares to source weights per phase (no Ray, no torch).

The paper's knobs are hierarchical: a share of code in continued pretraining, and inside the code
part the shares of verified synthetic code and of commit data (the rest is web code). The cooldown
has its own code share (the paper's best cooldown keeps ~20% code). Text sources split the text
part by fixed relative weights. Every phase's weights are non-negative and sum to 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

PHASES = ("pretrain", "cooldown")
DEFAULT_TEXT_WEIGHTS = {"text": 0.5, "knowledge": 0.5}
SHARE_NAMES = ("code_fraction", "synthetic_share", "commit_share", "cooldown_code_fraction")


@dataclass(frozen=True)
class Mixture:
    """Source weights per phase, each phase summing to 1. ``shares`` records how it was made."""

    pretrain: Mapping[str, float]
    cooldown: Mapping[str, float]
    shares: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for phase in PHASES:
            weights = getattr(self, phase)
            if any(w < 0 for w in weights.values()):
                raise ValueError(f"{phase} weights must be non-negative: {dict(weights)}")
            total = sum(weights.values())
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"{phase} weights sum to {total}, not 1")

    def phase(self, name: str) -> dict[str, float]:
        return dict(getattr(self, name))

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.pretrain) | set(self.cooldown))

    def to_dict(self) -> dict:
        return {
            "pretrain": dict(self.pretrain),
            "cooldown": dict(self.cooldown),
            "shares": dict(self.shares),
        }

    @property
    def id(self) -> str:
        """Stable 12-hex id of the weights (rounded to 1e-9, so float noise does not split ids)."""
        rounded = {p: {s: round(w, 9) for s, w in sorted(self.phase(p).items())} for p in PHASES}
        return hashlib.sha256(json.dumps(rounded, sort_keys=True).encode()).hexdigest()[:12]


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"weights must have a positive sum: {dict(weights)}")
    return {k: v / total for k, v in weights.items()}


def phase_weights(
    code_fraction: float,
    synthetic_share: float,
    commit_share: float,
    text_weights: Mapping[str, float] = DEFAULT_TEXT_WEIGHTS,
) -> dict[str, float]:
    """Weights of one phase: ``code_fraction`` of the tokens are code, split into synthetic code,
    commits and web code; the rest is text, split by ``text_weights``."""
    for name, v in (
        ("code_fraction", code_fraction),
        ("synthetic_share", synthetic_share),
        ("commit_share", commit_share),
    ):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v}")
    if synthetic_share + commit_share > 1.0 + 1e-12:
        raise ValueError(
            f"synthetic_share + commit_share must be <= 1, got {synthetic_share + commit_share}"
        )
    web_code = max(0.0, 1.0 - synthetic_share - commit_share)
    weights = {
        "code": code_fraction * web_code,
        "synthetic_code": code_fraction * synthetic_share,
        "commits": code_fraction * commit_share,
    }
    for name, w in _normalised(text_weights).items():
        weights[name] = (1.0 - code_fraction) * w
    # Floating error can leave the sum at 1 +- 1e-16; renormalise so the invariant is exact.
    return _normalised(weights)


def mixture_from_shares(
    shares: Mapping[str, float], text_weights: Mapping[str, float] = DEFAULT_TEXT_WEIGHTS
) -> Mixture:
    """The hierarchical parametrisation: the four paper knobs -> weights per phase."""
    missing = [n for n in SHARE_NAMES if n not in shares]
    if missing:
        raise ValueError(f"missing mixture shares: {missing}")
    s = {n: float(shares[n]) for n in SHARE_NAMES}
    pretrain = phase_weights(
        s["code_fraction"], s["synthetic_share"], s["commit_share"], text_weights
    )
    cooldown = phase_weights(
        s["cooldown_code_fraction"], s["synthetic_share"], s["commit_share"], text_weights
    )
    return Mixture(pretrain=pretrain, cooldown=cooldown, shares=s)
