"""The sections of a space file, one frozen dataclass each, with its checks beside its fields.

``validate(file)`` raises a ``ConfigError`` naming the file, the field and the fix; checks that
need two sections (objectives vs the evaluation suite, points vs parameters) are in load.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from codemix_search.config.params import check_init
from codemix_search.core.sizes import SIZES
from codemix_search.errors import ConfigError

SAMPLERS = ("tpe", "random", "nsga2", "gp", "grid", "surrogate")
SCHEDULERS = ("asha", "hyperband", "none")
SUITES = ("demo", "paper")
JUDGES = ("reference", "openai")
DATA_PRESETS = ("tiny", "demo")


def _one_of(file: str, where: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(file, where, f"unknown {value!r}; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Training:
    """Training knobs for each trial; any of them may also be a searched parameter."""

    model: str = "tiny"
    """Named model size (see codemix_search/train/model.py)."""
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
    compile: str = "auto"
    """auto | true | false: torch.compile the model. auto = on CUDA workers (28-34% MFU vs
    14-19% without on one H200, docs/gpu_check.md; ~1 min of compile, cached per node and shape
    so the trials of a node compile once), off on CPU."""
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
    seed_offset: int = 0
    """Seed replica: the same mixture and knobs with another offset is a real retraining with
    other seeds (``codemix_search calibrate`` uses it; identical settings are reused, not
    retrained)."""

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
        # torch's AdamW refuses a negative decay; a negative clip norm flips the gradients.
        if not self.weight_decay >= 0:
            bad("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if not self.grad_clip > 0:
            bad("grad_clip", f"must be > 0 (the gradients' largest norm), got {self.grad_clip}")
        if self.use_gpu not in ("auto", "true", "false"):
            bad("use_gpu", f"must be auto, true or false, got {self.use_gpu!r}")

        if self.model not in SIZES:
            bad("model", f"unknown size {self.model!r}; allowed: {', '.join(SIZES)}")
        if self.compile not in ("auto", "true", "false"):
            bad("compile", f"must be auto, true or false, got {self.compile!r}")
        if self.dist_backend not in ("auto", "nccl", "gloo"):
            bad("dist_backend", f"must be auto, nccl or gloo, got {self.dist_backend!r}")
        if self.batch_size % self.workers:
            bad("batch_size", f"must be divisible by training.workers ({self.workers})")
        if self.init_tokens < 0:
            bad("init_tokens", "must be >= 0 (0 = the trials' token budget)")
        if self.max_failures < -1:
            bad("max_failures", "must be >= 0, or -1 for no limit")
        if self.seed_offset < 0:
            bad("seed_offset", "must be >= 0")
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


TRAINING_FIELDS = frozenset(f.name for f in fields(Training))
# How a trial is run, not what it trains: these change neither a base's weights (its cache key,
# train/bases.base_key, hashes the other knobs) nor what a trainer must reproduce (the recipe's
# training block lists the other knobs). Any knob not named here reaches both by itself.
RUN_ONLY_KNOBS = frozenset(
    {"evals", "val_sequences", "workers", "cpus_per_worker", "use_gpu", "dist_backend",
     "compile", "checkpoint_every", "max_failures", "seed_offset"}
)  # fmt: skip


@dataclass(frozen=True)
class Objective:
    """One objective: a category score (the paper's way), one task's metric, or one source's
    held-out bits per byte, and a direction."""

    name: str
    category: str | None = None
    """nl_reasoning | world_knowledge | code | generative: mean of the suite's tasks in it."""
    task: str | None = None
    """Or one lm-eval task of the suite, e.g. demo_nl_reasoning ..."""
    source: str | None = None
    """Or one data source: bits per byte of its held-out validation split (metric: bpb)."""
    metric: str = "acc"
    """Category: a metric family, acc (each task's primary: accuracy, exact match, pass@1),
    bpb (gold-answer bits per byte: what proxies rank by) or brier. Task: one of its lm-eval
    metrics (bpb is its gold_bpb)."""
    mode: str = "max"

    @property
    def key(self) -> str:
        """Where its value is in a trial's final metrics."""
        if self.source:
            return f"heldout/{self.source}/bpb"
        if self.category:
            suffix = "" if self.metric == "acc" else f"/{self.metric}"
            return f"category/{self.category}{suffix}"
        return f"{self.task}/{'gold_bpb' if self.metric == 'bpb' else self.metric}"

    @property
    def continuous(self) -> bool:
        """Scored by a likelihood (BPB, Brier), not a thresholded count."""
        return self.metric in ("bpb", "gold_bpb", "brier", "brier_score")

    def validate(self, file: str, where: str) -> None:
        if self.mode not in ("min", "max"):
            raise ConfigError(file, f"{where}.mode", f"must be min or max, got {self.mode!r}")
        if sum(x is not None for x in (self.category, self.task, self.source)) != 1:
            raise ConfigError(file, where, "give one of category, task (+ metric) or source")
        if self.continuous and self.mode != "min":
            raise ConfigError(
                file, f"{where}.mode", f"{self.metric} is lower-is-better; use mode: min"
            )
        if self.source is not None and self.metric != "bpb":
            raise ConfigError(file, f"{where}.metric", "a source objective is scored by bpb")


@dataclass(frozen=True)
class EarlyStopping:
    scheduler: str = "asha"
    metric: str = "val_loss"
    """What a rung compares: ``objectives`` (the mean gold BPB of the BPB objectives on a fixed
    subset of their eval items, averaged over the last two reports: ranks trials as the
    objectives will), ``val_loss`` (mean validation loss over sources, each equal: favours
    mixtures of the majority kind of source) or ``val_loss/<source>``."""
    mode: str = "min"
    grace_period: int = 1
    reduction_factor: int = 2
    dominated_by: int = 2
    """With ``metric: objectives`` and no ``ranking.preference`` weights: a trial stops at a rung
    only when this many trials there are at least as good on every objective (search/rungs.py)."""

    def validate(self, file: str) -> None:
        if self.dominated_by < 1:
            raise ConfigError(file, "early_stopping.dominated_by", "must be >= 1")
        _one_of(file, "early_stopping.scheduler", self.scheduler, SCHEDULERS)
        if self.metric not in ("val_loss", "objectives") and not self.metric.startswith(
            "val_loss/"
        ):
            raise ConfigError(
                file, "early_stopping.metric", "must be objectives, val_loss or val_loss/<source>"
            )
        if self.grace_period < 1 or self.reduction_factor < 2:
            raise ConfigError(
                file, "early_stopping", "grace_period must be >= 1 and reduction_factor >= 2"
            )


@dataclass(frozen=True)
class Branching:
    cooldowns: str = "auto"
    """Trials with the same init, pretraining mixture and training knobs share one continued
    pretraining (trained once, cached in ``<storage>/_prefixes``, reused across runs) and
    branch their cooldowns from its checkpoint (train/prefix.py). ``auto``: on where
    pretraining repeats (a grid, or ``variants`` > 1); ``on``; ``off``."""
    variants: int = 1
    """Model-based samplers: each pretraining mixture they propose is followed by this many - 1
    trials that keep it and vary only the cooldown (the paper's protocol); 1: no branching."""

    def validate(self, file: str) -> None:
        _one_of(file, "branching.cooldowns", self.cooldowns, ("auto", "on", "off"))
        if not isinstance(self.variants, int) or self.variants < 1:
            raise ConfigError(file, "branching.variants", "must be an integer >= 1")


@dataclass(frozen=True)
class Budget:
    samples: int = 4
    concurrency: int = 2
    time_budget_s: float | None = None
    """Wall-clock limit of the search (Tune stops starting and running trials past it)."""
    max_tokens: int | None = None
    """Training-token limit over all trials (the search stops once that many are spent)."""

    def validate(self, file: str) -> None:
        if self.samples < 1 or self.concurrency < 1:
            raise ConfigError(file, "budget", "samples and concurrency must be >= 1")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ConfigError(file, "budget.time_budget_s", "must be > 0 seconds (or left out)")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(file, "budget.max_tokens", "must be >= 1 (or left out)")


@dataclass(frozen=True)
class Data:
    sources: str | None = None
    """A sources YAML (its schema: codemix_search/config/sources.py), relative to this file or any fsspec URI.
    Left out: the offline demo dataset of ``preset``."""
    preset: str = "tiny"
    """Demo corpus size: tiny (tests, ~seconds) or demo (laptop). Only without ``sources``."""
    vocab_size: int = 2048
    """Demo tokenizer vocabulary (a sources file sets its own under ``tokenizer``)."""
    commit_repos: tuple[str, ...] = (".",)
    """Demo: git repositories whose `git log -p` becomes commit data; '.' = this project."""
    max_epochs: float = 4.0
    """Warn (log + trial record) when a trial would repeat a source more than this many times."""

    def validate(self, file: str, given: set[str]) -> None:
        """``given``: the fields the file set (demo-only fields clash with ``sources``)."""
        _one_of(file, "data.preset", self.preset, DATA_PRESETS)
        if not 256 <= self.vocab_size <= 65535:
            raise ConfigError(file, "data.vocab_size", "must be in [256, 65535]")
        if self.sources is not None and given & {"preset", "commit_repos", "vocab_size"}:
            raise ConfigError(
                file,
                "data.sources",
                "preset, vocab_size and commit_repos describe the demo data; drop them when sources is set",
            )
        if self.max_epochs <= 0:
            raise ConfigError(file, "data.max_epochs", "must be > 0")


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
    noise_checkpoints: int = 3
    """k: each finished trial is also scored at its last k evaluation points (k - 1 extra,
    close to the end, on ``noise_limit`` items per task) for checkpoint-to-checkpoint noise;
    1 turns it off."""
    noise_limit: int = 64
    """Items per task at those extra points (a fixed subset: the first items)."""
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

    def validate(self, file: str) -> None:
        """Checks of this section alone (its tasks against the suite: load.py)."""
        _one_of(file, "evaluation.suite", self.suite, SUITES)
        if self.limit < 1:
            raise ConfigError(file, "evaluation.limit", "must be >= 1")
        if self.noise_checkpoints < 1:
            raise ConfigError(
                file, "evaluation.noise_checkpoints", "must be >= 1 (1: no checkpoint noise)"
            )
        if self.noise_limit < 2:
            raise ConfigError(file, "evaluation.noise_limit", "must be >= 2 items per task")
        for task, w in self.task_weights.items():
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
                raise ConfigError(file, f"evaluation.task_weights.{task}", "needs a number >= 0")
        for task, n in self.task_limits.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ConfigError(file, f"evaluation.task_limits.{task}", "needs an integer >= 1")
        if self.generative_prompts and self.suite != "paper":
            raise ConfigError(
                file, "evaluation.generative_prompts", "for the paper suite (demo has its own)"
            )
        _one_of(file, "evaluation.judge", self.judge, JUDGES)
        if self.judge == "openai" and not (self.judge_url or "").startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                file, "evaluation.judge_url", "the openai judge needs an http(s) base URL"
            )
        if self.judge_timeout_s <= 0:
            raise ConfigError(file, "evaluation.judge_timeout_s", "must be > 0")


@dataclass(frozen=True)
class MixtureSpec:
    """How sampled parameters become source weights."""

    parametrisation: str = "hierarchical"
    """hierarchical: the paper's four shares (code_fraction, synthetic_share, commit_share,
    cooldown_code_fraction) | dirichlet: one weight per source and phase, uniform over the
    simplex (RegMix-style; the parameters w_<phase>_<source> are generated)."""
    min_weight: float = 0.0
    """dirichlet: every source gets at least this weight in every phase it is drawn in."""

    def validate(self, file: str) -> None:
        if self.parametrisation not in ("hierarchical", "dirichlet"):
            raise ConfigError(
                file, "mixture.parametrisation", "unknown; allowed: hierarchical, dirichlet"
            )
        if not 0 <= self.min_weight < 1:
            raise ConfigError(file, "mixture.min_weight", "must be in [0, 1)")

    @property
    def dirichlet(self) -> bool:
        return self.parametrisation == "dirichlet"
