"""One parameter of a space (searched or fixed) and its checks; Optuna conversion lives in
search/optuna_params.py so config/ knows nothing of Optuna."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from codemix_search.core.mixture import BASES
from codemix_search.errors import ConfigError

PARAM_TYPES = ("float", "int", "categorical", "fixed")


INIT_CHOICES = ("scratch", *BASES)


@dataclass(frozen=True)
class Param:
    """One searchable (or fixed) parameter."""

    name: str
    type: str
    """float | int | categorical | fixed"""
    low: float | None = None
    high: float | None = None
    log: bool = False
    """Sample on a log scale (float/int, low > 0)."""
    choices: tuple | None = None
    value: Any = None
    """The value of a ``fixed`` parameter."""

    def validate(self, file: str) -> None:
        where = f"parameters.{self.name}"
        if self.type not in PARAM_TYPES:
            raise ConfigError(
                file,
                f"{where}.type",
                f"unknown type {self.type!r}; allowed: {', '.join(PARAM_TYPES)}",
            )
        if self.type in ("float", "int"):
            for bound in ("low", "high"):
                v = getattr(self, bound)
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise ConfigError(file, f"{where}.{bound}", f"needs a finite number, got {v!r}")
            if self.low > self.high:
                raise ConfigError(file, where, f"low ({self.low}) must be <= high ({self.high})")
            if self.log and self.low <= 0:
                raise ConfigError(file, f"{where}.low", "log scale needs low > 0")
        if self.type == "categorical" and not self.choices:
            raise ConfigError(
                file, f"{where}.choices", "categorical needs a non-empty list of choices"
            )
        if self.type == "fixed" and self.value is None:
            raise ConfigError(file, f"{where}.value", "fixed needs a value")
        # A parameter's values are scalars (a number, a name or a model URI): a nested value
        # would be carried into every trial's config, records and Optuna unchecked.
        for i, v in enumerate(self.values_range() if self.type != "categorical" else self.choices):
            if not isinstance(v, (int, float, str, bool)) or (isinstance(v, str) and len(v) > 1024):
                field = "value" if self.type == "fixed" else f"choices[{i}]"
                if self.type in ("float", "int"):
                    continue  # low/high checked above
                raise ConfigError(
                    file, f"{where}.{field}", f"must be a number, a name or a URI, got {v!r:.60}"
                )

    def values_range(self) -> list:
        """Every value the parameter can take at the ends: for range checks across parameters."""
        if self.type in ("float", "int"):
            return [self.low, self.high]
        if self.type == "categorical":
            return list(self.choices)
        return [self.value]

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take."""
        if self.type == "fixed":
            return value == self.value
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type == "int" and int(value) != value:
            return False
        return self.low <= value <= self.high

    def sample(self, rng: random.Random) -> Any:
        """A random draw without Optuna (for --dry-run)."""
        if self.type == "float":
            if self.log:
                return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            return rng.uniform(self.low, self.high)
        if self.type == "int":
            return rng.randint(int(self.low), int(self.high))
        if self.type == "categorical":
            return rng.choice(list(self.choices))
        return self.value


def check_init(value) -> str | None:
    """Why ``value`` is not a valid init, or None."""
    if not isinstance(value, str) or not value:
        return f"must be one of {', '.join(INIT_CHOICES)} or a saved model folder URI"
    if value in INIT_CHOICES or "/" in value:
        return None
    return f"unknown {value!r}; use one of {', '.join(INIT_CHOICES)} or a model folder URI"
