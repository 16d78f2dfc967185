"""The ``ranking`` section: how a run's trials are ranked and picked among (the front itself
needs no choices), and the preference the search and its early stopping follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codemix_search.core.preference import Preference, PreferenceError
from codemix_search.errors import ConfigError


@dataclass(frozen=True)
class Ranking:
    """How the report picks among Pareto-optimal trials (the front itself needs no choices)."""

    reference_point: Mapping[str, float] = field(default_factory=dict)
    """Objective values bounding the hypervolume; unset ones: the worst observed, 10% further."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Optional weighted scalarisation (objectives scaled to [0, 1]) for a single pick."""
    preference: Mapping[str, Any] = field(default_factory=dict)
    """``{weights: {objective: w}, constraints: ["code <= baseline", ...]}``: what the search,
    its early stopping and ``pick`` follow (core/preference.py: each objective scaled by its
    noise or range, never raw BPB). Without it the search keeps the Pareto front."""

    def parsed_preference(self, objectives: list[str]) -> Preference:
        p = self.preference or {}
        return Preference.parse(p.get("weights") or {}, p.get("constraints") or [], objectives)

    def validate(self, file: str, objective_names: set[str]) -> None:
        unknown = sorted(set(self.preference or {}) - {"weights", "constraints"})
        if unknown:
            raise ConfigError(
                file, f"ranking.preference.{unknown[0]}", "unknown; allowed: weights, constraints"
            )
        p = self.preference or {}
        if not isinstance(p.get("weights") or {}, Mapping):
            raise ConfigError(file, "ranking.preference.weights", "a mapping objective -> weight")
        if not isinstance(p.get("constraints") or [], list):
            raise ConfigError(
                file, "ranking.preference.constraints", "a list such as ['code <= baseline']"
            )
        try:
            self.parsed_preference(sorted(objective_names))
        except PreferenceError as e:
            raise ConfigError(file, "ranking.preference", str(e)) from None
        for section in ("reference_point", "weights"):
            for key, value in getattr(self, section).items():
                if key not in objective_names:
                    raise ConfigError(file, f"ranking.{section}.{key}", "not an objective's name")
                if (
                    not isinstance(value, (int, float))
                    or isinstance(value, bool)
                    or (section == "weights" and value < 0)
                ):
                    raise ConfigError(
                        file, f"ranking.{section}.{key}", "needs a (non-negative) number"
                    )
