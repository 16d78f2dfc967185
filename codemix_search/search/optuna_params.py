"""Parameters -> Optuna, in one place: define-by-run suggestions for OptunaSearch and the
distributions the surrogate encodes."""

from __future__ import annotations

from typing import Any


def suggest_param(p, trial) -> Any:
    """Ask an Optuna trial (define-by-run) for one parameter's value; fixed ones are returned
    as they are (and a float range of one point is that point: Optuna refuses low == high)."""
    if p.type == "float":
        if p.low == p.high:
            return float(p.low)
        return trial.suggest_float(p.name, p.low, p.high, log=p.log)
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    if p.type == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    return p.value


def suggest(space, trial) -> dict[str, Any]:
    """Define-by-run for OptunaSearch: every parameter, fixed ones included."""
    return {p.name: suggest_param(p, trial) for p in space.parameters}


def distributions(space) -> dict:
    """The searched parameters (more than one value) as Optuna distributions."""
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for p in space.parameters:
        if p.type == "float" and p.low != p.high:
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
        elif p.type == "int" and p.low != p.high:
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.type == "categorical" and len(p.choices) > 1:
            out[p.name] = CategoricalDistribution(list(p.choices))
    return out
