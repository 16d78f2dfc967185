"""The search space: YAML -> frozen dataclasses, validated once at load (no Ray).

Every error is a ``ConfigError`` naming the file, the field and the fix. A space file looks like
search_spaces/tiny.yaml; dotlist overrides (``budget.samples=8``) are applied before validation.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from codemix_search.errors import ConfigError
from codemix_search.mixture import (
    BASES,
    DEMO_CATALOG,
    SHARE_NAMES,
    Mixture,
    SourceInfo,
    base_weights,
    dirichlet_param_names,
    mixture_from_dirichlet,
    mixture_from_shares,
)

PARAM_TYPES = ("float", "int", "categorical", "fixed")
SAMPLERS = ("tpe", "random", "nsga2", "gp", "grid", "surrogate")
SCHEDULERS = ("asha", "hyperband", "none")
SUITES = ("demo", "paper")
JUDGES = ("reference", "openai")
DATA_PRESETS = ("tiny", "demo")
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

    def values_range(self) -> list:
        """Every value the parameter can take at the ends: for range checks across parameters."""
        if self.type in ("float", "int"):
            return [self.low, self.high]
        if self.type == "categorical":
            return list(self.choices)
        return [self.value]

    def suggest(self, trial) -> Any:
        """Ask an Optuna trial (define-by-run) for a value."""
        if self.type == "float":
            if self.low == self.high:
                return float(self.low)
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        return self.value

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


@dataclass(frozen=True)
class Training:
    """Training knobs for each trial; any of them may also be a searched parameter."""

    model: str = "tiny"
    """Named model size (see codemix_search/model.py)."""
    tokens: int = 40_000
    """Token budget per trial, continued pretraining + cooldown."""
    cooldown_share: float = 0.2
    """Share of the token budget spent in the cooldown (the decay phase of the LR schedule)."""
    warmup_share: float = 0.05
    lr: float = 3e-3
    weight_decay: float = 0.1
    batch_size: int = 8
    """Sequences per optimizer step, over all workers."""
    seq_len: int = 64
    evals: int = 4
    """Validation points per trial; each is one report, i.e. one ASHA rung step."""
    val_sequences: int = 8
    """Held-out sequences per source at each validation."""
    workers: int = 1
    """Ray Train workers per trial (DDP)."""
    cpus_per_worker: int = 1
    use_gpu: str = "auto"
    """auto | true | false. 'auto' uses GPU workers when the cluster has GPUs."""
    dist_backend: str = "auto"
    """auto | nccl | gloo: the torch.distributed backend of a trial's workers. 'auto' is Ray
    Train's choice (NCCL on GPU workers, gloo on CPU); gloo on GPU workers is for debugging and
    for test clusters whose GPUs are only a resource (Ray's fake multinode provider)."""
    grad_clip: float = 1.0
    compile: bool = False
    """torch.compile the model (worth it on GPUs; adds ~1 min of compile time per trial)."""
    init: str = "scratch"
    """Where continued pretraining starts: scratch | text | balanced | code (the paper's bases,
    each trained once per model, tokenizer and dataset and cached in <storage>/_inits) | a saved
    model folder's URI (a user's checkpoint). Searchable as a categorical."""
    init_tokens: int = 0
    """Tokens each base is trained on (0 = the trials' token budget)."""
    checkpoint_every: int = 1
    """Checkpoint (model, optimizer, loop state) every N-th report, and at both phase ends."""
    max_failures: int = 1
    """Worker failures a trial survives: Ray Train restarts it from the last checkpoint."""

    def validate(self, file: str) -> None:
        def bad(f, msg):
            raise ConfigError(file, f"training.{f}", msg)

        for name in (
            "tokens",
            "batch_size",
            "seq_len",
            "evals",
            "val_sequences",
            "workers",
            "cpus_per_worker",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}")
        if not 0 < self.cooldown_share < 1:
            bad("cooldown_share", f"must be in (0, 1), got {self.cooldown_share}")
        if not 0 <= self.warmup_share < 1 - self.cooldown_share:
            bad("warmup_share", "must be in [0, 1 - cooldown_share)")
        if not self.lr > 0:
            bad("lr", f"must be > 0, got {self.lr}")
        if self.use_gpu not in ("auto", "true", "false"):
            bad("use_gpu", f"must be auto, true or false, got {self.use_gpu!r}")
        from codemix_search.model import SIZES

        if self.model not in SIZES:
            bad("model", f"unknown size {self.model!r}; allowed: {', '.join(SIZES)}")
        if self.dist_backend not in ("auto", "nccl", "gloo"):
            bad("dist_backend", f"must be auto, nccl or gloo, got {self.dist_backend!r}")
        if self.batch_size % self.workers:
            bad("batch_size", f"must be divisible by training.workers ({self.workers})")
        if self.init_tokens < 0:
            bad("init_tokens", "must be >= 0 (0 = the trials' token budget)")
        if self.max_failures < -1:
            bad("max_failures", "must be >= 0, or -1 for no limit")
        init_problem = check_init(self.init)
        if init_problem:
            bad("init", init_problem)
        if self.steps < 2 * self.evals:
            bad(
                "tokens",
                f"gives {self.steps} steps; need >= {2 * self.evals} (2 x evals): raise tokens",
            )

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.tokens_per_step)


@dataclass(frozen=True)
class Objective:
    """One objective: a category score (the paper's way) or one task's metric, and a direction."""

    name: str
    category: str | None = None
    """nl_reasoning | world_knowledge | code | generative: mean of the suite's tasks in it."""
    task: str | None = None
    """Or one lm-eval task of the suite, e.g. demo_nl_reasoning ..."""
    metric: str = "acc"
    """... and its metric."""
    mode: str = "max"

    @property
    def key(self) -> str:
        """Where its value is in a trial's final metrics."""
        return f"category/{self.category}" if self.category else f"{self.task}/{self.metric}"


@dataclass(frozen=True)
class EarlyStopping:
    scheduler: str = "asha"
    metric: str = "val_loss"
    """Reported every eval; mean of per-source validation losses (mixture-independent)."""
    mode: str = "min"
    grace_period: int = 1
    reduction_factor: int = 2


@dataclass(frozen=True)
class Budget:
    samples: int = 4
    concurrency: int = 2
    time_budget_s: float | None = None
    """Wall-clock limit of the search (Tune stops starting and running trials past it)."""
    max_tokens: int | None = None
    """Training-token limit over all trials (the search stops once that many are spent)."""


@dataclass(frozen=True)
class Data:
    sources: str | None = None
    """A sources YAML (codemix_search/data/sources.py), relative to this file or any fsspec URI.
    Left out: the offline demo dataset of ``preset``."""
    preset: str = "tiny"
    """Demo corpus size: tiny (tests, ~seconds) or demo (laptop). Only without ``sources``."""
    vocab_size: int = 2048
    """Demo tokenizer vocabulary (a sources file sets its own under ``tokenizer``)."""
    commit_repos: tuple[str, ...] = (".",)
    """Demo: git repositories whose `git log -p` becomes commit data; '.' = this project."""
    max_epochs: float = 4.0
    """Warn (log + trial record) when a trial would repeat a source more than this many times."""


@dataclass(frozen=True)
class Evaluation:
    suite: str = "demo"
    """demo (offline, generated) | paper (the paper's lm-eval tasks; nodes must reach them)."""
    limit: int = 64
    """Items per task (bounds eval cost)."""
    batch_size: int = 16
    baseline: Mapping[str, Any] = field(
        default_factory=lambda: {"code_fraction": 0.0, "cooldown_code_fraction": 0.0}
    )
    """Parameter values of the baseline every trial is compared with (the paper's text-only
    model by default): relative changes (+8.2% style) and generative win-rates use it."""
    run_baseline: bool = True
    """Enqueue the baseline as the first trial (the rest of its values sampled) so it exists."""
    task_weights: Mapping[str, float] = field(default_factory=dict)
    """Weight of a task inside its category's mean (default 1; 0 keeps it out of the mean)."""
    task_limits: Mapping[str, int] = field(default_factory=dict)
    """Items of a task, overriding ``limit`` (e.g. fewer for slow executed-code tasks)."""
    generative_prompts: str | None = None
    """Paper suite: jsonl of {prompt, reference} (e.g. Dolly-200) for the generative category."""
    judge: str = "reference"
    """Generative win-rate judge: reference (offline chrF against the true continuation) |
    openai (an OpenAI-compatible chat-completions endpoint, judge_url)."""
    judge_url: str | None = None
    judge_model: str = "gpt-4o-mini"
    judge_api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key (never the key itself)."""
    judge_timeout_s: float = 30.0


@dataclass(frozen=True)
class MixtureSpec:
    """How sampled parameters become source weights."""

    parametrisation: str = "hierarchical"
    """hierarchical: the paper's four shares (code_fraction, synthetic_share, commit_share,
    cooldown_code_fraction) | dirichlet: one weight per source and phase, uniform over the
    simplex (RegMix-style; the parameters w_<phase>_<source> are generated)."""
    min_weight: float = 0.0
    """dirichlet: every source gets at least this weight in every phase it is drawn in."""


@dataclass(frozen=True)
class Ranking:
    """How the report picks among Pareto-optimal trials (the front itself needs no choices)."""

    reference_point: Mapping[str, float] = field(default_factory=dict)
    """Objective values bounding the hypervolume; unset ones: the worst observed, 10% further."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Optional weighted scalarisation (objectives scaled to [0, 1]) for a single pick."""


@dataclass(frozen=True)
class SearchSpace:
    name: str
    parameters: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    training: Training = field(default_factory=Training)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    budget: Budget = field(default_factory=Budget)
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
        return all(config.get(k) == v for k, v in self.evaluation.baseline.items())

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

    def suggest(self, trial) -> dict[str, Any]:
        """Define-by-run for OptunaSearch: every parameter, fixed ones included."""
        return {p.name: p.suggest(trial) for p in self.parameters}

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


TRAINING_FIELDS = {f.name for f in dataclasses.fields(Training)}

# ---------------------------------------------------------------------------------------------
# Loading


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, (list, tuple))
    if origin in (Mapping, dict) or tp in (dict,):
        return isinstance(value, dict)
    return True


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def build(cls, raw: Any, file: str, prefix: str, **extra):
    """Build frozen dataclass ``cls`` from a YAML mapping: unknown keys and wrong types are
    one-line errors naming the field and what it takes."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(file, prefix, f"must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in extra]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(
            file,
            f"{prefix}.{unknown[0]}".lstrip("."),
            f"unknown field; allowed: {', '.join(names)}",
        )
    kwargs = dict(extra)
    for name, value in raw.items():
        tp = hints[name]
        if tp is str and isinstance(value, bool):
            value = "true" if value else "false"  # YAML reads `use_gpu: true` as a bool
        if not _type_ok(value, tp):
            raise ConfigError(
                file, f"{prefix}.{name}".lstrip("."), f"expected {_type_name(tp)}, got {value!r}"
            )
        if tp is float and isinstance(value, int):
            value = float(value)
        if typing.get_origin(tp) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


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


def apply_overrides(raw: dict, overrides: list[str], file: str) -> dict:
    """Dotlist overrides: ``budget.samples=8`` (values parsed as YAML scalars)."""
    raw = yaml.safe_load(yaml.safe_dump(raw, sort_keys=False))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                file, item, "override must look like section.field=value, e.g. budget.samples=8"
            )
        key, _, text = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(file, item, "override needs a field name before '='")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(file, key, f"cannot parse override value {text!r}") from None
        node = raw
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(file, key, f"{p} is not a section")
            node = nxt
        node[parts[-1]] = value
    return raw


def parse_space(raw: Any, file: str) -> SearchSpace:
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

    mixture_spec = build(MixtureSpec, raw.get("mixture"), file, "mixture")
    if mixture_spec.parametrisation not in ("hierarchical", "dirichlet"):
        raise ConfigError(
            file, "mixture.parametrisation", "unknown; allowed: hierarchical, dirichlet"
        )
    if not 0 <= mixture_spec.min_weight < 1:
        raise ConfigError(file, "mixture.min_weight", "must be in [0, 1)")
    dirichlet = mixture_spec.parametrisation == "dirichlet"
    params_raw = raw.get("parameters")
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
    by_name = {p.name: p for p in params}
    if not dirichlet:
        syn_hi = max(by_name["synthetic_share"].values_range())
        com_hi = max(by_name["commit_share"].values_range())
        if syn_hi + com_hi > 1:
            raise ConfigError(
                file,
                "parameters.commit_share",
                f"synthetic_share and commit_share can sum to {syn_hi + com_hi:g} > 1; lower their highs so they sum to <= 1",
            )

    objectives_raw = raw.get("objectives")
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

    training = build(Training, raw.get("training"), file, "training")
    training.validate(file)
    stopping = build(EarlyStopping, raw.get("early_stopping"), file, "early_stopping")
    if stopping.scheduler not in SCHEDULERS:
        raise ConfigError(
            file,
            "early_stopping.scheduler",
            f"unknown {stopping.scheduler!r}; allowed: {', '.join(SCHEDULERS)}",
        )
    if stopping.metric != "val_loss" and not stopping.metric.startswith("val_loss/"):
        raise ConfigError(file, "early_stopping.metric", "must be val_loss or val_loss/<source>")
    if stopping.grace_period < 1 or stopping.reduction_factor < 2:
        raise ConfigError(
            file, "early_stopping", "grace_period must be >= 1 and reduction_factor >= 2"
        )
    budget = build(Budget, raw.get("budget"), file, "budget")
    if budget.samples < 1 or budget.concurrency < 1:
        raise ConfigError(file, "budget", "samples and concurrency must be >= 1")
    if budget.time_budget_s is not None and budget.time_budget_s <= 0:
        raise ConfigError(file, "budget.time_budget_s", "must be > 0 seconds (or left out)")
    if budget.max_tokens is not None and budget.max_tokens < 1:
        raise ConfigError(file, "budget.max_tokens", "must be >= 1 (or left out)")
    data = build(Data, raw.get("data"), file, "data")
    if data.preset not in DATA_PRESETS:
        raise ConfigError(
            file, "data.preset", f"unknown {data.preset!r}; allowed: {', '.join(DATA_PRESETS)}"
        )
    if not 256 <= data.vocab_size <= 65535:
        raise ConfigError(file, "data.vocab_size", "must be in [256, 65535]")
    evaluation = build(Evaluation, raw.get("evaluation"), file, "evaluation")
    if evaluation.suite not in SUITES:
        raise ConfigError(
            file, "evaluation.suite", f"unknown {evaluation.suite!r}; allowed: {', '.join(SUITES)}"
        )
    if evaluation.limit < 1:
        raise ConfigError(file, "evaluation.limit", "must be >= 1")
    _check_objectives(objectives, evaluation, file)
    sampler = raw.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(file, "sampler", f"unknown {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    if sampler == "grid":
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
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(file, "seed", f"must be a non-negative integer, got {seed!r}")
    catalog = DEMO_CATALOG
    if data.sources is not None:
        if set(raw.get("data") or {}) & {"preset", "commit_repos", "vocab_size"}:
            raise ConfigError(
                file,
                "data.sources",
                "preset, vocab_size and commit_repos describe the demo data; drop them when sources is set",
            )
        catalog = _catalog(data, file)
    if data.max_epochs <= 0:
        raise ConfigError(file, "data.max_epochs", "must be > 0")
    if dirichlet:
        if mixture_spec.min_weight * len(catalog) >= 1:
            raise ConfigError(
                file, "mixture.min_weight", f"x {len(catalog)} sources must stay below 1"
            )
        # Uniforms in (0, 1] (0 itself would be an infinite weight): one per phase and source.
        params = params + tuple(
            Param(name=n, type="float", low=1e-6, high=1.0) for n in dirichlet_param_names(catalog)
        )
        by_name = {p.name: p for p in params}
    points = raw.get("points_to_evaluate") or []
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
    ranking = build(Ranking, raw.get("ranking"), file, "ranking")
    for section in ("reference_point", "weights"):
        for key, value in getattr(ranking, section).items():
            if key not in {o.name for o in objectives}:
                raise ConfigError(file, f"ranking.{section}.{key}", "not an objective's name")
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or (section == "weights" and value < 0)
            ):
                raise ConfigError(file, f"ranking.{section}.{key}", "needs a (non-negative) number")
    explicit = "baseline" in (raw.get("evaluation") or {})
    for key, value in evaluation.baseline.items():
        where = f"evaluation.baseline.{key}"
        ok = key in by_name and by_name[key].admits(value)
        if not ok and not explicit:
            # The default (text-only) baseline is outside this space: compare with nothing.
            evaluation = dataclasses.replace(evaluation, baseline={}, run_baseline=False)
            break
        if key not in by_name:
            raise ConfigError(file, where, "not a parameter of this space")
        if not ok:
            raise ConfigError(file, where, f"{value!r} is outside the parameter's range")
    space = SearchSpace(
        name=name,
        parameters=params,
        objectives=tuple(objectives),
        training=training,
        early_stopping=stopping,
        budget=budget,
        data=data,
        evaluation=evaluation,
        sampler=sampler,
        seed=seed,
        points_to_evaluate=tuple(dict(p) for p in points),
        ranking=ranking,
        mixture_spec=mixture_spec,
        catalog=catalog,
        source_file=file,
    )
    _check_mixtures(space)
    return space


def _check_objectives(objectives, evaluation: Evaluation, file: str) -> None:
    from codemix_search.evaluate.suites import suite_for

    for task, w in evaluation.task_weights.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
            raise ConfigError(file, f"evaluation.task_weights.{task}", "needs a number >= 0")
    suite = suite_for(evaluation)
    for task, n in evaluation.task_limits.items():
        if task not in suite.names:
            raise ConfigError(
                file,
                f"evaluation.task_limits.{task}",
                f"not a task of suite {suite.name}; allowed: {', '.join(suite.names)}",
            )
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(file, f"evaluation.task_limits.{task}", "needs an integer >= 1")
    for task in evaluation.task_weights:
        if task not in suite.names:
            raise ConfigError(
                file,
                f"evaluation.task_weights.{task}",
                f"not a task of suite {suite.name}; allowed: {', '.join(suite.names)}",
            )
    if evaluation.generative_prompts and evaluation.suite != "paper":
        raise ConfigError(
            file, "evaluation.generative_prompts", "for the paper suite (demo has its own)"
        )
    cats = sorted(c for c, ts in suite.categories().items() if any(t.weight > 0 for t in ts))
    for i, o in enumerate(objectives):
        where = f"objectives[{i}]"
        if (o.category is None) == (o.task is None):
            raise ConfigError(file, where, "give either category or task (+ metric)")
        if o.category is not None and o.category not in cats:
            raise ConfigError(
                file,
                f"{where}.category",
                f"{o.category!r} is not scored by suite {suite.name}; allowed: {', '.join(cats)}",
            )
        if o.task is not None and o.task not in suite.names:
            raise ConfigError(
                file,
                f"{where}.task",
                f"{o.task!r} is not in suite {suite.name}; allowed: {', '.join(suite.names)}",
            )
    if evaluation.judge not in JUDGES:
        raise ConfigError(
            file, "evaluation.judge", f"unknown {evaluation.judge!r}; allowed: {', '.join(JUDGES)}"
        )
    if evaluation.judge == "openai" and not (evaluation.judge_url or "").startswith(
        ("http://", "https://")
    ):
        raise ConfigError(
            file, "evaluation.judge_url", "the openai judge needs an http(s) base URL"
        )
    if evaluation.judge_timeout_s <= 0:
        raise ConfigError(file, "evaluation.judge_timeout_s", "must be > 0")


def sources_uri(data: Data, space_file: str) -> str:
    """Where the space's sources YAML is: relative paths are relative to the space file."""
    uri = data.sources
    if "://" in uri or os.path.isabs(uri) or "<" in space_file:
        return uri
    return os.path.join(os.path.dirname(os.path.abspath(space_file)), uri)


def _catalog(data: Data, file: str) -> tuple[SourceInfo, ...]:
    from codemix_search.data.sources import load_sources

    cfg = load_sources(sources_uri(data, file))
    return tuple(SourceInfo(s.name, s.kind, s.weight, s.phases) for s in cfg.sources)


def _check_mixtures(space: SearchSpace) -> None:
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
    import itertools

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


def load_space(path: str, overrides: list[str] | None = None) -> SearchSpace:
    """Read, override and validate a space file. Raises ConfigError (one line) on any problem."""
    from codemix_search.storage import Folder

    shown = path
    try:
        folder = Folder(os.path.dirname(path) or ".")
        data = folder.read_bytes(os.path.basename(path))
    except FileNotFoundError:
        raise ConfigError(
            shown, "", "file not found; pass --space search_spaces/demo.yaml or another space file"
        ) from None
    except (IsADirectoryError, PermissionError, OSError) as e:
        raise ConfigError(
            shown, "", f"cannot read ({e.__class__.__name__}); pass a readable YAML file"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(shown, "", "not UTF-8 text; pass a YAML search space") from None
    if not text.strip():
        raise ConfigError(shown, "", "empty file; start from search_spaces/tiny.yaml")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(
            shown, where, f"{problem}; fix the YAML syntax (only plain YAML, no tags)"
        ) from None
    if overrides:
        if not isinstance(raw, dict):
            raise ConfigError(shown, "", "a search space must be a YAML mapping")
        raw = apply_overrides(raw, overrides, shown)
    return parse_space(raw, shown)
