"""The search space: the validated sections of a space file and what follows from them
(the baseline, the inits, a trial's mixture and training knobs, the YAML round trip).

Built by load.py; frozen, so every stage after loading reads the same space.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codemix_search.config.params import Param
from codemix_search.config.ranking import Ranking
from codemix_search.config.sections import (
    TRAINING_FIELDS,
    Branching,
    Budget,
    Data,
    EarlyStopping,
    Evaluation,
    MixtureSpec,
    Objective,
    Training,
)
from codemix_search.config.strategy import SearchStrategy
from codemix_search.core.mixture import (
    DEMO_CATALOG,
    SHARE_NAMES,
    Mixture,
    SourceInfo,
    dirichlet_param_names,
    mixture_from_dirichlet,
    mixture_from_shares,
)
from codemix_search.core.preference import Preference


@dataclass(frozen=True)
class SearchSpace:
    name: str
    parameters: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    training: Training = field(default_factory=Training)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    budget: Budget = field(default_factory=Budget)
    branching: Branching = field(default_factory=Branching)
    search: SearchStrategy = field(default_factory=SearchStrategy)
    data: Data = field(default_factory=Data)
    evaluation: Evaluation = field(default_factory=Evaluation)
    sampler: str = "tpe"
    seed: int = 0
    ranking: Ranking = field(default_factory=Ranking)
    mixture_spec: MixtureSpec = field(default_factory=MixtureSpec)
    points_to_evaluate: tuple[Mapping[str, Any], ...] = ()
    """Configs tried first, before the sampler's own (e.g. the paper's best recipe as a
    baseline): each maps searched parameters to values; the ones left out are sampled."""
    catalog: tuple[SourceInfo, ...] = DEMO_CATALOG
    """The sources the mixture spreads over (from ``data.sources``, or the demo's five)."""
    source_file: str = "<space>"

    # -- derived -----------------------------------------------------------------------------
    @property
    def initial_points(self) -> list[dict]:
        """What Optuna tries first: the baseline (when asked for), then points_to_evaluate."""
        points = [dict(p) for p in self.points_to_evaluate]
        # A grid already holds its baseline point; enqueuing it would cost a grid point.
        if self.evaluation.run_baseline and self.sampler != "grid":
            searched = {p.name for p in self.parameters if p.type != "fixed"}
            base = {k: v for k, v in self.evaluation.baseline.items() if k in searched}
            if base:
                points.insert(0, base)
        return points

    def is_baseline(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` is the baseline's (never, when the space has no baseline)."""
        baseline = self.evaluation.baseline
        return bool(baseline) and all(config.get(k) == v for k, v in baseline.items())

    @property
    def inits(self) -> list[str]:
        """Every init a trial of this space may start from (searched or fixed)."""
        for p in self.parameters:
            if p.name == "init":
                return sorted(map(str, p.choices)) if p.type == "categorical" else [str(p.value)]
        return [self.training.init]

    @property
    def metric_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def modes(self) -> list[str]:
        return [o.mode for o in self.objectives]

    @property
    def preference(self) -> Preference:
        """``ranking.preference`` read (checked when the space was loaded)."""
        return self.ranking.parsed_preference(self.metric_names)

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self.parameters}

    def mixture(self, config: Mapping[str, Any]) -> Mixture:
        if self.mixture_spec.parametrisation == "dirichlet":
            return mixture_from_dirichlet(config, self.catalog, self.mixture_spec.min_weight)
        return mixture_from_shares({n: config[n] for n in SHARE_NAMES}, self.catalog)

    @property
    def mixture_param_names(self) -> list[str]:
        if self.mixture_spec.parametrisation == "dirichlet":
            return dirichlet_param_names(self.catalog)
        return list(SHARE_NAMES)

    @functools.cached_property
    def cooldown_param_names(self) -> tuple[str, ...]:
        """The searched mixture parameters that change only the cooldown's weights (e.g.
        ``cooldown_code_fraction``): found by moving each one over its range at a few sampled
        points and watching the pretraining weights, so any parametrisation is covered."""
        rng = random.Random(self.seed)
        points = [self.sample(rng) for _ in range(4)]
        out = []
        for p in self.parameters:
            if p.name not in self.mixture_param_names or p.type == "fixed":
                continue
            ends = list(p.choices) if p.type == "categorical" else [p.low, p.high]
            if all(
                self.mixture({**x, p.name: v}).pretrain == self.mixture(x).pretrain
                for x in points
                for v in ends
            ):
                out.append(p.name)
        return tuple(out)

    @property
    def branches_cooldowns(self) -> bool:
        """Whether trials share continued pretraining and branch their cooldowns from it
        (``branching.cooldowns``; ``auto``: where pretraining repeats, a grid over a cooldown
        parameter or ``branching.variants`` > 1)."""
        mode = self.branching.cooldowns
        if mode != "auto":
            return mode == "on"
        repeats = self.sampler == "grid" or self.branching.variants > 1
        return repeats and bool(self.cooldown_param_names)

    def training_for(self, config: Mapping[str, Any]) -> Training:
        """The training knobs of one trial: searched values override the space's defaults."""
        overrides = {k: v for k, v in config.items() if k in TRAINING_FIELDS}
        return dataclasses.replace(self.training, **overrides) if overrides else self.training

    def to_dict(self) -> dict:
        """The resolved space as YAML-ready data that ``parse_space`` loads back (a run folder's
        space.yaml is what ``codemix_search export`` and ``--resume`` read)."""
        d = dataclasses.asdict(self)
        d.pop("catalog")
        d.pop("source_file")
        generated = (
            set(dirichlet_param_names(self.catalog))
            if self.mixture_spec.parametrisation == "dirichlet"
            else set()
        )
        d["parameters"] = {
            p["name"]: {k: v for k, v in p.items() if k != "name" and v is not None}
            for p in d["parameters"]
            if p["name"] not in generated
        }
        d["mixture"] = d.pop("mixture_spec")
        for p in d["parameters"].values():
            if p.get("log") is False:
                p.pop("log")
            if "choices" in p:
                p["choices"] = list(p["choices"])
        if self.data.sources is not None:
            d["data"] = {
                "sources": sources_uri(self.data, self.source_file),
                "max_epochs": self.data.max_epochs,
            }
        d["data"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["data"].items()}
        d["points_to_evaluate"] = [dict(p) for p in self.points_to_evaluate]
        d["evaluation"]["baseline"] = dict(self.evaluation.baseline)
        d["ranking"] = {k: dict(v) for k, v in d["ranking"].items()}
        d["evaluation"]["task_weights"] = dict(self.evaluation.task_weights)
        d["evaluation"]["task_limits"] = dict(self.evaluation.task_limits)
        return d


# ---------------------------------------------------------------------------------------------
# Loading


def sources_uri(data: Data, space_file: str) -> str:
    """Where the space's sources YAML is: relative paths are relative to the space file."""
    uri = data.sources
    if "://" in uri or os.path.isabs(uri) or "<" in space_file:
        return uri
    return os.path.join(os.path.dirname(os.path.abspath(space_file)), uri)
