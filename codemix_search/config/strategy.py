"""How a run searches: directly (the sampler over the space at its own size), or swarm-and-confirm
(RegMix, Olmix, CLIMB, Marin: many small proxies, a regression, a few confirmations at the
space's size). The two stages are spaces of their own, derived here (pure: no Ray, no I/O), so
each stage is a whole run (data, bases, trials, report) and ``plan`` prices each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codemix_search.core.sizes import SIZES
from codemix_search.errors import ConfigError

STRATEGIES = ("direct", "swarm")
MIN_PROXIES = 5  # fewer leave nothing to fit (analysis/swarm.MIN_RUNS)


@dataclass(frozen=True)
class SearchStrategy:
    strategy: str = "direct"
    """``direct``: the sampler searches at the space's size. ``swarm``: stage 1 trains
    ``proxies`` mixtures (random draws over the space's parameters: uniform over the
    hierarchical shares, Dirichlet for a dirichlet space) at ``proxy_model``; a regression per
    objective proposes ``confirm`` mixtures (the preference's predicted optimum, then diverse
    predicted front points, optimistic by their uncertainty); stage 2 trains those (and the
    baseline) at the space's size and reports predicted vs measured."""
    proxies: int = 24
    proxy_model: str = "tiny"
    proxy_tokens: int | None = None
    """Training tokens of a proxy (default: the space's ``training.tokens`` / 4)."""
    confirm: int = 3

    def validate(self, file: str) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                file, "search.strategy", f"unknown {self.strategy!r}; allowed: direct, swarm"
            )
        if self.proxy_model not in SIZES:
            raise ConfigError(
                file,
                "search.proxy_model",
                f"unknown {self.proxy_model!r}; allowed: {', '.join(SIZES)}",
            )
        if not isinstance(self.proxies, int) or self.proxies < MIN_PROXIES:
            raise ConfigError(file, "search.proxies", f"must be an integer >= {MIN_PROXIES}")
        if not isinstance(self.confirm, int) or not 1 <= self.confirm <= 50:
            raise ConfigError(file, "search.confirm", "must be an integer in 1..50")
        if self.proxy_tokens is not None and self.proxy_tokens < 1:
            raise ConfigError(file, "search.proxy_tokens", "must be >= 1 (or left out)")


def _stage(space, cooldowns: str = "off", **changes):
    """A stage's space: trains every trial to the end (the fit needs finished points), searched
    directly; ``cooldowns``: whether its trials share pretraining (train/prefix.py)."""
    es = dataclasses.replace(space.early_stopping, scheduler="none")
    branching = dataclasses.replace(space.branching, cooldowns=cooldowns, variants=1)
    return dataclasses.replace(
        space, early_stopping=es, branching=branching, search=SearchStrategy(), **changes
    )


def proxy_space(space):
    """Stage 1: ``proxies`` random mixtures at ``proxy_model`` (its bases scaled alike)."""
    s, t = space.search, space.training
    tokens = s.proxy_tokens or max(t.tokens_per_step * 2 * t.evals, t.tokens // 4)
    init_tokens = round(t.init_tokens * tokens / t.tokens) if t.init_tokens else 0
    training = dataclasses.replace(t, model=s.proxy_model, tokens=tokens, init_tokens=init_tokens)
    budget = dataclasses.replace(space.budget, samples=s.proxies, max_tokens=None)
    return _stage(
        space,
        name=f"{space.name}-proxies",
        training=training,
        sampler="random",
        budget=budget,
        points_to_evaluate=(),
    )


def confirm_space(space, points: Sequence[Mapping[str, Any]] = ()):
    """Stage 2: the proposals (and the baseline) at the space's own size. Without ``points``
    (planning), the space with as many trials as will be confirmed."""
    searched = {p.name for p in space.parameters if p.type != "fixed"}
    kept = tuple({k: v for k, v in p.items() if k in searched} for p in points)
    # Proposals often differ only in their cooldown (on the bench grid all 3 shared one
    # pretraining): branched, they pay it once.
    staged = _stage(space, "on", sampler="random", points_to_evaluate=kept)
    samples = (
        len(staged.initial_points)
        if kept
        else space.search.confirm
        + int(bool(space.evaluation.run_baseline and space.evaluation.baseline))
    )
    return dataclasses.replace(staged, budget=dataclasses.replace(space.budget, samples=samples))
