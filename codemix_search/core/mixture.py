"""Pure mapping from sampled shares to source weights per phase (no Ray, no torch).

The paper's knobs are hierarchical: a share of code in continued pretraining, and inside the code
part the shares of verified synthetic code and of commit data (the rest is web code). The cooldown
has its own code share (the paper's best cooldown keeps ~20% code). Sources join a group by kind
and split its part by their declared weights. Every phase's weights are non-negative and sum to 1.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PHASES = ("pretrain", "cooldown")
SHARE_NAMES = ("code_fraction", "synthetic_share", "commit_share", "cooldown_code_fraction")
# The paper's initialisation models: code fraction of each base's (web code + text) mixture.
BASES = {"text": 0.0, "balanced": 0.5, "code": 1.0}
# Which kinds fill which part of a phase; any other kind (text, hq_text, math, ...) is text.
GROUP_KINDS = {
    "web_code": ("code", "markup"),
    "synthetic_code": ("synthetic_code",),
    "commits": ("commits",),
    "text": ("text", "hq_text", "<any other kind>"),
}


@dataclass(frozen=True)
class SourceInfo:
    """What the mixture needs to know of a source: its kind, weight in its group, phases."""

    name: str
    kind: str
    weight: float = 1.0
    phases: tuple[str, ...] = PHASES

    @property
    def group(self) -> str:
        for group, kinds in GROUP_KINDS.items():
            if self.kind in kinds:
                return group
        return "text"


# The demo dataset (codemix_search/demo/): two text sources of equal weight.
DEMO_CATALOG = (
    SourceInfo("text", "text"),
    SourceInfo("knowledge", "text"),
    SourceInfo("code", "code"),
    SourceInfo("synthetic_code", "synthetic_code"),
    SourceInfo("commits", "commits"),
)


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
    catalog: Sequence[SourceInfo] = DEMO_CATALOG,
    phase: str = "pretrain",
) -> dict[str, float]:
    """Weights of one phase: ``code_fraction`` of the tokens are code, split into verified
    synthetic code, commits and web code (code + markup); the rest is text. Inside each group the
    sources active in ``phase`` share its mass by their ``weight``. A group that should get tokens
    but has no source is an error, not a silent renormalisation."""
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
    mass = {
        "web_code": code_fraction * max(0.0, 1.0 - synthetic_share - commit_share),
        "synthetic_code": code_fraction * synthetic_share,
        "commits": code_fraction * commit_share,
        "text": 1.0 - code_fraction,
    }
    weights: dict[str, float] = {}
    for group, m in mass.items():
        members = [s for s in catalog if s.group == group and phase in s.phases]
        if not members:
            if m > 1e-12:
                kinds = ", ".join(GROUP_KINDS[group])
                raise ValueError(
                    f"{phase}: {m:.3g} of the tokens go to {group}, but no source of kind "
                    f"{kinds} is declared for this phase"
                )
            continue
        total = sum(s.weight for s in members)
        for s in members:
            weights[s.name] = m * s.weight / total
    # Floating error can leave the sum at 1 +- 1e-16; renormalise so the invariant is exact.
    return _normalised(weights)


def mixture_from_shares(
    shares: Mapping[str, float], catalog: Sequence[SourceInfo] = DEMO_CATALOG
) -> Mixture:
    """The hierarchical parametrisation: the four paper knobs -> weights per phase."""
    missing = [n for n in SHARE_NAMES if n not in shares]
    if missing:
        raise ValueError(f"missing mixture shares: {missing}")
    s = {n: float(shares[n]) for n in SHARE_NAMES}
    pretrain = phase_weights(
        s["code_fraction"], s["synthetic_share"], s["commit_share"], catalog, "pretrain"
    )
    cooldown = phase_weights(
        s["cooldown_code_fraction"], s["synthetic_share"], s["commit_share"], catalog, "cooldown"
    )
    return Mixture(pretrain=pretrain, cooldown=cooldown, shares=s)


def base_weights(name: str, catalog: Sequence[SourceInfo] = DEMO_CATALOG) -> dict[str, float]:
    """The mixture an initialisation model is trained on: text-only, balanced (50/50 text and
    web code) or code-only (the paper's three bases; no synthetic code or commits)."""
    if name not in BASES:
        raise ValueError(f"unknown base {name!r}; allowed: {', '.join(BASES)}")
    return phase_weights(BASES[name], 0.0, 0.0, catalog, "pretrain")


def dirichlet_param_names(catalog: Sequence[SourceInfo]) -> list[str]:
    """One uniform(0, 1) parameter per (phase, source the phase may draw)."""
    return [f"w_{phase}_{s.name}" for phase in PHASES for s in catalog if phase in s.phases]


def dirichlet_phase(uniforms: Mapping[str, float], min_weight: float = 0.0) -> dict[str, float]:
    """Weights from uniforms: -log(u) are Exponential(1), and normalised exponentials are a
    Dirichlet(1, ..., 1) draw (uniform over the simplex, RegMix's prior), so a searcher's
    uniform parameters cover every mixture evenly. Each weight is then lifted to at least
    ``min_weight``: w = m + (1 - n m) w."""
    n = len(uniforms)
    if not n:
        raise ValueError("a phase needs at least one source")
    if not 0 <= min_weight * n < 1:
        raise ValueError(f"min_weight {min_weight} x {n} sources must be < 1")
    for name, u in uniforms.items():
        if not 0 < u <= 1:
            raise ValueError(f"{name}: a Dirichlet uniform must be in (0, 1], got {u}")
    raw = {s: -math.log(u) + 1e-12 for s, u in uniforms.items()}
    total = sum(raw.values())
    return _normalised({s: min_weight + (1 - n * min_weight) * v / total for s, v in raw.items()})


def mixture_from_dirichlet(
    config: Mapping[str, float], catalog: Sequence[SourceInfo], min_weight: float = 0.0
) -> Mixture:
    """The Dirichlet parametrisation: per phase, weights over its sources from uniforms."""
    phases = {}
    for phase in PHASES:
        uniforms = {
            s.name: float(config[f"w_{phase}_{s.name}"]) for s in catalog if phase in s.phases
        }
        phases[phase] = dirichlet_phase(uniforms, min_weight)
    shares = {k: float(config[k]) for k in dirichlet_param_names(catalog)}
    return Mixture(pretrain=phases["pretrain"], cooldown=phases["cooldown"], shares=shares)


def rounded_weights(weights: Mapping[str, float], places: int = 6) -> dict[str, float]:
    """Weights to ``places`` decimals that sum to exactly 1 in the decimals written (largest
    remainder: the units lost to rounding down go to the largest remainders); rounding each
    on its own wrote sums of 0.999999 or 1.000001, which some trainers' checks refuse."""
    unit = 10**places
    total = sum(weights.values())
    scaled = {s: w / total * unit for s, w in weights.items()}
    floor = {s: int(v) for s, v in scaled.items()}
    short = unit - sum(floor.values())
    for s in sorted(scaled, key=lambda s: (floor[s] - scaled[s], s))[:short]:
        floor[s] += 1
    return {s: floor[s] / unit for s in sorted(weights)}
