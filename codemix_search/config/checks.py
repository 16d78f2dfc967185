"""Checks across sections of a space: objectives against the evaluation suite, the mixtures the
parameters can make against the declared sources, early stopping against the objectives."""

from __future__ import annotations

import itertools

from codemix_search.config.params import check_init
from codemix_search.config.sections import Evaluation
from codemix_search.config.space import SearchSpace
from codemix_search.core.mixture import BASES, SHARE_NAMES, base_weights, mixture_from_shares
from codemix_search.core.schedule import max_reports
from codemix_search.core.suites import suite_for
from codemix_search.errors import ConfigError


def check_objectives(objectives, evaluation: Evaluation, file: str) -> None:
    """Objectives and task settings against the tasks the evaluation suite has."""
    suite = suite_for(evaluation)
    for where in ("task_limits", "task_weights"):
        for task in getattr(evaluation, where):
            if task not in suite.names:
                raise ConfigError(
                    file,
                    f"evaluation.{where}.{task}",
                    f"not a task of suite {suite.name}; allowed: {', '.join(suite.names)}",
                )
    cats = sorted(c for c, ts in suite.categories().items() if any(t.weight > 0 for t in ts))
    for i, o in enumerate(objectives):
        where = f"objectives[{i}]"
        o.validate(file, where)
        if o.category is not None:
            if o.category not in cats:
                raise ConfigError(
                    file,
                    f"{where}.category",
                    f"{o.category!r} is not scored by suite {suite.name}; allowed: {', '.join(cats)}",
                )
            families = suite.families(o.category)
            if o.metric not in families:
                raise ConfigError(
                    file,
                    f"{where}.metric",
                    f"suite {suite.name} scores no {o.metric!r} for {o.category}; allowed: {', '.join(families)}",
                )
        if o.task is not None:
            if o.task not in suite.names:
                raise ConfigError(
                    file,
                    f"{where}.task",
                    f"{o.task!r} is not in suite {suite.name}; allowed: {', '.join(suite.names)}",
                )
            produced = suite.task(o.task).produces()
            if o.key.rsplit("/", 1)[1] not in produced:
                raise ConfigError(
                    file,
                    f"{where}.metric",
                    f"task {o.task} reports no {o.metric!r}; allowed: {', '.join(sorted(produced))}",
                )


def check_sources_and_stopping(space: SearchSpace) -> None:
    """Objectives on a source need that source; stopping on the objectives needs BPB objectives
    and local eval items to score at each rung."""
    file, names = space.source_file, {s.name for s in space.catalog}
    for i, o in enumerate(space.objectives):
        if o.source is not None and o.source not in names:
            raise ConfigError(
                file,
                f"objectives[{i}].source",
                f"{o.source!r} is not a source of this space; allowed: {', '.join(sorted(names))}",
            )
    if space.early_stopping.metric == "objectives":
        if not any(o.metric == "bpb" and o.source is None for o in space.objectives):
            raise ConfigError(
                file,
                "early_stopping.metric",
                "objectives needs at least one category or task objective with metric: bpb",
            )
        if space.evaluation.suite != "demo":
            raise ConfigError(
                file,
                "early_stopping.metric",
                "objectives scores local eval items at each rung (suite demo); use val_loss",
            )


def check_scheduler(space: SearchSpace) -> None:
    """ASHA's first rung must come before a trial's last report (Tune refuses a grace period
    past ``max_t`` only once the search has started)."""
    es = space.early_stopping
    if es.scheduler == "none":
        return
    max_t = max_reports(space.training.evals, space.evaluation.noise_checkpoints) + 1
    if es.grace_period >= max_t:
        raise ConfigError(
            space.source_file,
            "early_stopping.grace_period",
            f"{es.grace_period} reports is past a trial's last rung (it reports at most "
            f"{max_t - 1} times: training.evals + 2 + noise points); use 1..{max_t - 1}",
        )


def check_mixtures(space: SearchSpace) -> None:
    """Every sampled mixture must be realisable by the declared sources: try the corners of the
    share parameters (and a few random points) before any trial runs."""
    corners = []
    by_name = {p.name: p for p in space.parameters}
    dirichlet = space.mixture_spec.parametrisation == "dirichlet"
    for p in (by_name[n] for n in ([] if dirichlet else SHARE_NAMES)):
        if p.type == "fixed":
            corners.append([p.value])
        elif p.type == "categorical":
            corners.append(list(p.choices))
        else:
            corners.append([p.low, p.high])

    inits = {space.training.init}
    if "init" in by_name:
        p = by_name["init"]
        inits = set(p.choices) if p.type == "categorical" else {p.value}
    for value in sorted(inits, key=str):
        problem = check_init(value)
        if problem:
            raise ConfigError(space.source_file, "parameters.init", problem)
        if value in BASES:
            try:
                base_weights(value, space.catalog)
            except ValueError as e:
                raise ConfigError(
                    space.source_file, "parameters.init", f"base {value!r}: {e}"
                ) from None
    if dirichlet:
        return  # every source of a phase gets weight by construction
    for values in itertools.product(*corners):
        shares = dict(zip(SHARE_NAMES, values, strict=True))
        if shares["synthetic_share"] + shares["commit_share"] > 1:
            continue
        try:
            mixture_from_shares(shares, space.catalog)
        except ValueError as e:
            raise ConfigError(
                space.source_file,
                "data.sources",
                f"{e}; add such a source or fix that share at 0",
            ) from None
