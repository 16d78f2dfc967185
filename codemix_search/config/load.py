"""Load a space file: read, override, build each section, then the checks across sections."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import yaml

from codemix_search.config.checks import (
    check_mixtures,
    check_objectives,
    check_scheduler,
    check_sources_and_stopping,
)
from codemix_search.config.params import PARAM_TYPES, Param
from codemix_search.config.ranking import Ranking
from codemix_search.config.sections import (
    SAMPLERS,
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
from codemix_search.config.sources import load_sources
from codemix_search.config.space import SearchSpace, sources_uri
from codemix_search.config.strategy import SearchStrategy
from codemix_search.config.yamlio import apply_overrides, build
from codemix_search.core.mixture import (
    DEMO_CATALOG,
    SHARE_NAMES,
    SourceInfo,
    dirichlet_param_names,
)
from codemix_search.core.yaml_bounds import load_bounded
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder


def _parse_param(name: str, raw: Any, file: str) -> Param:
    if not isinstance(raw, dict):
        # A bare scalar is a fixed value: `cooldown_code_fraction: 0.2`.
        if isinstance(raw, (int, float, str, bool)):
            return Param(name=name, type="fixed", value=raw)
        raise ConfigError(
            file,
            f"parameters.{name}",
            "must be a mapping like {type: float, low: 0, high: 1} or a fixed scalar",
        )
    raw = dict(raw)
    if "choices" in raw:
        if not isinstance(raw["choices"], list):
            raise ConfigError(file, f"parameters.{name}.choices", "must be a list")
        raw["choices"] = tuple(raw["choices"])
    if "type" not in raw:
        raise ConfigError(
            file, f"parameters.{name}.type", f"missing; allowed: {', '.join(PARAM_TYPES)}"
        )
    param = build(Param, raw, file, f"parameters.{name}", name=name)
    param.validate(file)
    return param


def parse_space(raw: Any, file: str) -> SearchSpace:
    """Plain YAML data -> a validated ``SearchSpace`` (or a one-line ``ConfigError``)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            file, "", "a search space must be a YAML mapping (see search_spaces/tiny.yaml)"
        )
    allowed = {f.name for f in dataclasses.fields(SearchSpace)} - {
        "source_file",
        "catalog",
        "mixture_spec",
    } | {"mixture"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            file, unknown[0], f"unknown section; allowed: {', '.join(sorted(allowed))}"
        )
    name = raw.get("name") or os.path.splitext(os.path.basename(file))[0]
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(file, "name", "must be letters, digits, '-' or '_'")

    mixture_spec = section(MixtureSpec, raw, "mixture", file)
    params = _parse_params(raw.get("parameters"), mixture_spec.dirichlet, file)
    objectives = _parse_objectives(raw.get("objectives"), file)
    training = section(Training, raw, "training", file)
    stopping = section(EarlyStopping, raw, "early_stopping", file)
    budget = section(Budget, raw, "budget", file)
    branching = section(Branching, raw, "branching", file)
    strategy = section(SearchStrategy, raw, "search", file)
    data = build(Data, raw.get("data"), file, "data")
    data.validate(file, set(raw.get("data") or {}))
    evaluation = section(Evaluation, raw, "evaluation", file)
    check_objectives(objectives, evaluation, file)
    sampler = raw.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(file, "sampler", f"unknown {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    if sampler == "grid":
        _check_grid(params, budget, file)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        # NumPy's RandomState (Optuna's samplers) takes seeds below 2**32.
        raise ConfigError(file, "seed", f"must be an integer in 0..{2**32 - 1}, got {seed!r}")
    catalog = DEMO_CATALOG if data.sources is None else _catalog(data, file)
    if mixture_spec.dirichlet:
        params = _with_dirichlet_params(params, mixture_spec, catalog, file)
    points = _parse_points(raw.get("points_to_evaluate") or [], params, file)
    ranking = build(Ranking, raw.get("ranking"), file, "ranking")
    ranking.validate(file, {o.name for o in objectives})
    explicit = "baseline" in (raw.get("evaluation") or {})
    evaluation = _check_baseline(evaluation, params, explicit, file)
    space = SearchSpace(
        name=name,
        parameters=params,
        objectives=tuple(objectives),
        training=training,
        early_stopping=stopping,
        budget=budget,
        branching=branching,
        search=strategy,
        data=data,
        evaluation=evaluation,
        sampler=sampler,
        seed=seed,
        points_to_evaluate=points,
        ranking=ranking,
        mixture_spec=mixture_spec,
        catalog=catalog,
        source_file=file,
    )
    check_mixtures(space)
    check_sources_and_stopping(space)
    check_scheduler(space)
    return space


def section(cls, raw: dict, key: str, file: str):
    """Build one section from its YAML mapping and run its own checks."""
    value = build(cls, raw.get(key), file, key)
    value.validate(file)
    return value


def _parse_params(params_raw: Any, dirichlet: bool, file: str) -> tuple[Param, ...]:
    if params_raw is None and dirichlet:
        params_raw = {}
    if not isinstance(params_raw, dict) or (not params_raw and not dirichlet):
        raise ConfigError(
            file, "parameters", f"missing or empty; needs at least {', '.join(SHARE_NAMES)}"
        )
    params = tuple(_parse_param(str(k), v, file) for k, v in params_raw.items())
    missing = [n for n in SHARE_NAMES if n not in {p.name for p in params}]
    if missing and not dirichlet:
        raise ConfigError(
            file, f"parameters.{missing[0]}", "missing; give a range or a fixed value in [0, 1]"
        )
    for p in params:
        _check_param_name(p, dirichlet, file)
    if not dirichlet:
        by_name = {p.name: p for p in params}
        syn_hi = max(by_name["synthetic_share"].values_range())
        com_hi = max(by_name["commit_share"].values_range())
        if syn_hi + com_hi > 1:
            raise ConfigError(
                file,
                "parameters.commit_share",
                f"synthetic_share and commit_share can sum to {syn_hi + com_hi:g} > 1; lower their highs so they sum to <= 1",
            )
    return params


def _check_param_name(p: Param, dirichlet: bool, file: str) -> None:
    if p.name not in SHARE_NAMES and p.name not in TRAINING_FIELDS:
        raise ConfigError(
            file,
            f"parameters.{p.name}",
            f"unknown parameter; allowed: {', '.join(SHARE_NAMES)} or a training field ({', '.join(sorted(TRAINING_FIELDS))})",
        )
    if p.name in SHARE_NAMES and dirichlet:
        raise ConfigError(
            file,
            f"parameters.{p.name}",
            "a share of the hierarchical parametrisation; the dirichlet one generates "
            "w_<phase>_<source> parameters instead",
        )
    if p.name in SHARE_NAMES:
        for v in p.values_range():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise ConfigError(
                    file, f"parameters.{p.name}", f"shares must lie in [0, 1], got {v!r}"
                )


def _parse_objectives(objectives_raw: Any, file: str) -> list[Objective]:
    if not isinstance(objectives_raw, list) or len(objectives_raw) < 1:
        raise ConfigError(
            file,
            "objectives",
            "needs a list of objectives like {name: nl, task: demo_nl_reasoning, metric: acc, mode: max}",
        )
    objectives = []
    for i, o in enumerate(objectives_raw):
        if isinstance(o, dict) and "name" not in o:
            raise ConfigError(file, f"objectives[{i}].name", "missing")
        obj = build(Objective, o, file, f"objectives[{i}]")
        if obj.mode not in ("min", "max"):
            raise ConfigError(
                file, f"objectives[{i}].mode", f"must be min or max, got {obj.mode!r}"
            )
        objectives.append(obj)
    if len({o.name for o in objectives}) != len(objectives):
        raise ConfigError(file, "objectives", "objective names must be unique")
    return objectives


def _check_grid(params: tuple[Param, ...], budget: Budget, file: str) -> None:
    points = 1
    for p in params:
        if p.type in ("float", "int") and p.low != p.high:
            raise ConfigError(
                file,
                f"parameters.{p.name}",
                "the grid sampler needs listed values: {type: categorical, choices: [...]}",
            )
        points *= len(p.choices) if p.type == "categorical" else 1
    if budget.samples != points:
        raise ConfigError(
            file, "budget.samples", f"the grid has {points} points; set samples: {points}"
        )


def _with_dirichlet_params(params, mixture_spec: MixtureSpec, catalog, file: str):
    if mixture_spec.min_weight * len(catalog) >= 1:
        raise ConfigError(file, "mixture.min_weight", f"x {len(catalog)} sources must stay below 1")
    # Uniforms in (0, 1] (0 itself would be an infinite weight): one per phase and source.
    return params + tuple(
        Param(name=n, type="float", low=1e-6, high=1.0) for n in dirichlet_param_names(catalog)
    )


def _parse_points(points: Any, params: tuple[Param, ...], file: str) -> tuple[dict, ...]:
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ConfigError(file, "points_to_evaluate", "a list of {parameter: value} mappings")
    by_name = {p.name: p for p in params}
    for i, point in enumerate(points):
        for key, value in point.items():
            where = f"points_to_evaluate[{i}].{key}"
            if key not in by_name or by_name[key].type == "fixed":
                raise ConfigError(file, where, "not a searched parameter of this space")
            if not by_name[key].admits(value):
                raise ConfigError(file, where, f"{value!r} is outside the parameter's range")
        if point.get("synthetic_share", 0) + point.get("commit_share", 0) > 1:
            raise ConfigError(
                file, f"points_to_evaluate[{i}]", "synthetic_share + commit_share must be <= 1"
            )
    return tuple(dict(p) for p in points)


def _check_baseline(evaluation: Evaluation, params, explicit: bool, file: str) -> Evaluation:
    by_name = {p.name: p for p in params}
    for key, value in evaluation.baseline.items():
        where = f"evaluation.baseline.{key}"
        ok = key in by_name and by_name[key].admits(value)
        if not ok and not explicit:
            # The default (text-only) baseline is outside this space: compare with nothing.
            return dataclasses.replace(evaluation, baseline={}, run_baseline=False)
        if key not in by_name:
            raise ConfigError(file, where, "not a parameter of this space")
        if not ok:
            raise ConfigError(file, where, f"{value!r} is outside the parameter's range")
    return evaluation


def _catalog(data: Data, file: str) -> tuple[SourceInfo, ...]:

    cfg = load_sources(sources_uri(data, file))
    return tuple(SourceInfo(s.name, s.kind, s.weight, s.phases) for s in cfg.sources)


def read_user_yaml(path: str, hint: str = "pass a readable YAML file") -> Any:
    """A YAML file a person wrote (a space, a sources file, --paths, --available), any fsspec
    path: missing, a folder, unreadable, not UTF-8, empty, not YAML, a key given twice, too
    deep or too large: one line naming the file and ``hint``."""
    try:
        folder = Folder(os.path.dirname(path) or ".")
        data = folder.read_bytes(os.path.basename(path))
    except FileNotFoundError:
        raise ConfigError(path, "", f"file not found; {hint}") from None
    except (IsADirectoryError, PermissionError, OSError) as e:
        raise ConfigError(path, "", f"cannot read ({e.__class__.__name__}); {hint}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, "", f"not UTF-8 text; {hint}") from None
    if not text.strip():
        raise ConfigError(path, "", f"empty file; {hint}")
    try:
        return load_bounded(text, path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(
            path, where, f"{problem}; fix the YAML syntax (only plain YAML, no tags)"
        ) from None


def load_space(path: str, overrides: list[str] | None = None) -> SearchSpace:
    """Read, override and validate a space file. Raises ConfigError (one line) on any problem."""
    shown = path
    raw = read_user_yaml(path, "pass --space search_spaces/demo.yaml or another space file")
    if overrides:
        if not isinstance(raw, dict):
            raise ConfigError(shown, "", "a search space must be a YAML mapping")
        raw = apply_overrides(raw, overrides, shown)
    return parse_space(raw, shown)
