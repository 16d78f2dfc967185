"""What one training run needs, as one frozen record (``LoopConfig``), and where it reports.

The trial driver builds it from the space and a sampled config (``loop_config``); Ray carries it
to the workers as a plain dict (``to_dict`` / ``from_dict``: the only dict at the boundary).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from codemix_search.config.sections import TRAINING_FIELDS, Training
from codemix_search.core.mixture import BASES
from codemix_search.core.schedule import (
    Schedule,
    max_reports,  # noqa: F401 - its home was here
)
from codemix_search.data.dataset import DataManifest


@dataclass(frozen=True)
class LoopConfig:
    training: Training
    """The trial's training section (the space's, searched knobs filled in): every knob the loop
    reads is read from here, so a new knob is one field of ``Training`` (config/sections.py)."""
    steps: int
    """Optimizer steps: the section's ``tokens // tokens_per_step`` (a base sets its own)."""
    mixture: dict
    """{"pretrain": {source: weight}, "cooldown": {...}, "shares": {...}} (Mixture.to_dict)."""
    seed: int
    data_uri: str
    manifest: DataManifest
    max_epochs: float = float("inf")
    init_uri: str | None = None
    """Model folder continued pretraining starts from (None: random init)."""
    curve_folder: str | None = None
    """Where rank 0 appends each report to curve.jsonl (the trial folder)."""
    fault: dict = field(default_factory=dict)
    """Fault injection for tests: {"kill_at_step": N, "marker": path}."""
    worker_entry_time: float | None = None
    noise_points: int = 1
    """k: report (and checkpoint) at k points in the last ~2k% of training, the last one the
    end, so the trial can be scored at each for checkpoint-to-checkpoint noise."""
    rung_pairs: dict | None = None
    """{objective: [[context, continuation], ...]}: score these at every report and report
    ``rung_metric`` (evaluate/rung_metric.py); None: no objective-aligned rung metric."""

    pretrain_seed: int | None = None
    """Seeds the model init and the pretraining data when set (a shared prefix's seed,
    train/prefix.py), so every cooldown branched from it sees the same pretraining."""
    stop_step: int | None = None
    """Train only up to this step (a shared prefix stops where its cooldowns start)."""
    resume_uri: str | None = None
    """A saved loop checkpoint to continue from (the shared prefix a cooldown branches from)."""
    shared_tokens: int = 0
    """Tokens of this trial's pretraining that another trial trained (its shared prefix):
    reported with every report, so the ledger never counts them twice."""
    val_sources: list[str] | None = None
    """Validate on these sources (None: the mixture's); a prefix and its branches validate on
    every source, so the reports a branch replays match its own."""

    @property
    def seed_of_pretraining(self) -> int:
        return self.seed if self.pretrain_seed is None else self.pretrain_seed

    @property
    def tokens_per_step(self) -> int:
        return self.training.tokens_per_step

    @property
    def schedule(self) -> Schedule:
        t = self.training
        return Schedule(self.steps, t.lr, t.cooldown_share, t.warmup_share)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopConfig:
        training, manifest = Training(**d["training"]), DataManifest.from_dict(d["manifest"])
        return cls(**{**d, "training": training, "manifest": manifest})

    def replace(self, **changes) -> LoopConfig:
        """A copy with some fields changed; a training knob's name changes the section's."""
        knobs = {k: changes.pop(k) for k in list(changes) if k in TRAINING_FIELDS}
        if knobs:
            changes["training"] = dataclasses.replace(self.training, **knobs)
        return dataclasses.replace(self, **changes)


def init_uri_for(init: str, inits: dict[str, str] | None) -> str | None:
    """The model folder a trial starts from: None (scratch), a built base, or the user's URI."""
    if init == "scratch":
        return None
    if init in BASES:
        if not inits or init not in inits:
            raise ValueError(f"base {init!r} has not been built (see train/bases.py)")
        return inits[init]
    return init


def loop_config(
    space,
    trial_config: dict,
    data_uri: str,
    manifest: dict,
    seed: int,
    inits: dict[str, str] | None = None,
) -> LoopConfig:
    """Everything the worker loop reads, nothing Ray-specific. ``inits`` maps base names (text,
    balanced, code) to their cached model folders."""
    t = space.training_for(trial_config)
    return LoopConfig(
        training=t,
        steps=t.steps,
        max_epochs=space.data.max_epochs,
        noise_points=space.evaluation.noise_checkpoints,
        mixture=space.mixture(trial_config).to_dict(),
        init_uri=init_uri_for(t.init, inits),
        seed=seed,
        data_uri=data_uri,
        manifest=manifest,
    )


def eval_steps(total_steps: int, evals: int) -> list[int]:
    """Steps (0-based) after which to validate and report: evenly spaced, the last one last."""
    return sorted({max(0, round((i + 1) * total_steps / evals) - 1) for i in range(evals)})


def noise_steps(total_steps: int, k: int) -> list[int]:
    """k steps at the end, 2% of training apart (at least one step): checkpoints close enough
    that their scores differ by noise, not by training progress (200 steps: 199, 195, 191)."""
    gap = max(1, total_steps // 50)
    return sorted({max(0, total_steps - 1 - j * gap) for j in range(max(1, k))})


def mid_cooldown_step(schedule: Schedule) -> int:
    """The step half-way through the cooldown: a report there lets early stopping see what the
    cooldown mixture does before the trial's end (7 of the committed bench grid's 10 front
    points use cooldown code; a rung before the cooldown is blind to it)."""
    return schedule.cooldown_start + schedule.cooldown_steps // 2 - 1


def report_steps(schedule: Schedule, evals: int, noise_points: int = 1) -> list[int]:
    """The eval steps, the last step of continued pretraining (every trial reports and
    checkpoints the model just before its cooldown: the paper compares both), the middle of the
    cooldown and the noise points at the end."""
    return sorted(
        set(eval_steps(schedule.total_steps, evals))
        | {schedule.cooldown_start - 1, mid_cooldown_step(schedule)}
        | set(noise_steps(schedule.total_steps, noise_points))
    )


def checkpoint_steps(schedule: Schedule, evals: int, every: int, noise_points: int = 1) -> set[int]:
    """Every ``every``-th report, both phase ends and the noise points."""
    reports = report_steps(schedule, evals, noise_points)
    picked = {s for i, s in enumerate(reports) if (i + 1) % every == 0}
    ends = {schedule.cooldown_start - 1, schedule.total_steps - 1}
    return picked | ends | set(noise_steps(schedule.total_steps, noise_points))
