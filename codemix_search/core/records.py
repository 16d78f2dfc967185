"""The schema of records.jsonl: one ``TrialRecord`` per trial, and what a trial's status can be.

Search builds them from Tune's results; export adds what it derives (the cost ledger, the
comparison with the baseline) as new records (``with_export``), never by editing one in place.
Read back with ``TrialRecord.from_dict``: a row of another schema version is one clear error.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
"""1: rows without ``schema_version`` (runs before the stage layout, 2026-11); 2: this."""


class TrialStatus(str, enum.Enum):
    """How a trial ended. A ``str`` so rows, Optuna attributes and Prometheus labels stay plain."""

    FINISHED = "finished"
    """Trained to the end and evaluated: the only status that is ranked."""
    PRUNED = "pruned"
    """Stopped early by the scheduler (ASHA / HyperBand) before its evaluation."""
    DIVERGED = "diverged"
    """Its loss became NaN/inf; never ranked."""
    ERROR = "error"
    """Raised; ``error`` holds the cause."""
    INTERRUPTED = "interrupted"
    """Still running or waiting when the search was stopped (Ctrl-C, SIGTERM): not early
    stopping's doing; ``--resume`` continues it."""

    def __str__(self) -> str:
        return self.value


class RecordError(ValueError):
    """A records.jsonl row that is not a TrialRecord of this schema."""


@dataclass
class EvalScores:
    """What lm-eval gave for one checkpoint (evaluate/harness.evaluate)."""

    tasks: dict = field(default_factory=dict)
    """Task -> metric -> value (lm-eval's filter suffix dropped)."""
    generations: dict = field(default_factory=dict)
    """Judged task -> [{"prompt", "generation", "reference"}]: for the win-rate against the
    baseline (evaluate/baseline.py)."""
    items: dict = field(default_factory=dict)
    """Task -> metric -> per-item values in document order (gold BPB items as [loglikelihood,
    bytes], Brier items as squared errors): paired differences between trials."""
    seconds: float = 0.0


class ReportKey:
    """The keys a trial adds to its Tune results beside its metrics, spelled once: the trial
    writes them (search/trial.py), the search, its callbacks, Prometheus and the bases read
    them through ``TrialReport.of``."""

    EVALUATED = "evaluated"
    DIVERGED = "diverged"
    STATUS = "status"
    MIXTURE_ID = "mixture_id"
    EVAL_SECONDS = "eval_seconds"


@dataclass(frozen=True)
class TrialReport:
    """How a trial's last Tune result says it ended."""

    evaluated: bool = False
    """Trained to the end and scored (its objectives are in the result)."""
    diverged: bool = False
    """The loop saw a NaN/inf loss and stopped (train/loop.py)."""
    status: TrialStatus | None = None
    mixture_id: str | None = None
    eval_seconds: float = 0.0

    @classmethod
    def of(cls, result: Mapping[str, Any] | None) -> TrialReport:
        r = result or {}
        status = r.get(ReportKey.STATUS)
        return cls(
            evaluated=r.get(ReportKey.EVALUATED) == 1,
            diverged=bool(r.get(ReportKey.DIVERGED)),
            status=TrialStatus(status) if status in {s.value for s in TrialStatus} else None,
            mixture_id=r.get(ReportKey.MIXTURE_ID),
            eval_seconds=float(r.get(ReportKey.EVAL_SECONDS) or 0.0),
        )

    @staticmethod
    def keys(status: TrialStatus) -> dict:
        """The keys a trial that ended with ``status`` adds to its last result."""
        return {
            ReportKey.STATUS: status.value,
            ReportKey.EVALUATED: int(status is TrialStatus.FINISHED),
        }


@dataclass(frozen=True)
class Cost:
    """One trial's cost-ledger entry (core/ledger.trial_cost): what it trained, in tokens,
    model FLOPs and device-seconds, and what early stopping saved of its planned budget."""

    tokens: int
    planned_tokens: int
    flops: float
    saved_tokens: int
    saved_flops: float
    device_seconds: float
    flops_per_token: float
    shared_tokens: int = 0
    """Tokens of its pretraining another trial trained (a shared prefix, train/prefix.py):
    not in ``tokens``, not counted twice."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VsBaseline:
    """A finished trial against the run's baseline trial, in the paper's +x% format."""

    baseline: str
    """The baseline's trial id."""
    relative: dict = field(default_factory=dict)
    """Category -> relative change of the category score (None where the baseline's is 0)."""
    objectives: dict = field(default_factory=dict)
    """Objective -> relative change, positive = better whatever the mode (a BPB 13.4% lower
    than the baseline's reads +0.134)."""
    win_rate: dict = field(default_factory=dict)
    """Generative task -> the judge's verdict ({"win_rate": w, ...} or {"error": why})."""
    better: str = "positive"

    @property
    def mean_win_rate(self) -> float | None:
        rates = [v["win_rate"] for v in self.win_rate.values() if "win_rate" in v]
        return sum(rates) / len(rates) if rates else None

    @property
    def judge_failed(self) -> bool:
        return bool(self.win_rate) and self.mean_win_rate is None


@dataclass(frozen=True)
class TrialRecord:
    trial_id: str
    status: TrialStatus
    config: dict = field(default_factory=dict)
    """The sampled parameters (searched and fixed)."""
    mixture: dict | None = None
    """Source weights per phase and the shares they came from (Mixture.to_dict)."""
    mixture_id: str | None = None
    objectives: dict = field(default_factory=dict)
    """Objective name -> value; empty unless finished."""
    metrics: dict = field(default_factory=dict)
    """The trial's last reported scalars (losses, tokens, task scores, timings)."""
    error: str | None = None
    cost: Cost | None = None
    """Cost ledger entry (core/ledger.py), added at export."""
    vs_baseline: VsBaseline | None = None
    """Relative change and judged win-rate against the baseline trial, added at export."""

    def __post_init__(self):
        if not isinstance(self.status, TrialStatus):
            object.__setattr__(self, "status", TrialStatus(self.status))
        for name in ("config", "objectives", "metrics"):  # rows of killed trials hold null
            if getattr(self, name) is None:
                object.__setattr__(self, name, {})
        if isinstance(self.cost, dict):
            object.__setattr__(self, "cost", Cost(**self.cost))
        if isinstance(self.vs_baseline, dict):
            object.__setattr__(self, "vs_baseline", VsBaseline(**self.vs_baseline))

    @property
    def finished(self) -> bool:
        return self.status is TrialStatus.FINISHED

    @property
    def is_baseline(self) -> bool:
        """The run's baseline trial (evaluation.run_baseline): what ``vs_baseline`` compares to."""
        return self.metrics.get("baseline") == 1

    @property
    def reused_from(self) -> str | None:
        """The trial whose result this one took (same mixture and seed): nothing was trained."""
        return self.metrics.get("reused_from")

    def init(self, default: str) -> str:
        """Where its continued pretraining started (the space's ``training.init`` if fixed)."""
        return str(self.config.get("init", default))

    def with_export(self, **derived: Any) -> TrialRecord:
        return dataclasses.replace(self, **derived)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["schema_version"] = SCHEMA_VERSION
        return d

    @classmethod
    def from_dict(cls, row: dict, where: str = "records.jsonl") -> TrialRecord:
        version = row.get("schema_version", 1)
        if version != SCHEMA_VERSION:
            raise RecordError(
                f"{where}: schema_version {version}, this codemix_search reads {SCHEMA_VERSION}: "
                "the run predates this version; rerun it (or use the version that wrote it)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(row) - names - {"schema_version"})
        if unknown or "trial_id" not in row or "status" not in row:
            raise RecordError(f"{where}: not a trial record (fields {unknown or 'missing'})")
        try:
            return cls(**{k: v for k, v in row.items() if k in names})
        except ValueError:
            raise RecordError(f"{where}: unknown status {row['status']!r}") from None
        except TypeError as e:  # a cost or vs_baseline of another shape
            raise RecordError(f"{where}: not a trial record ({e})") from None


@dataclass(frozen=True)
class RankedTrial:
    """A record as the run's tables show it: its rank among the finished trials (None for the
    rest) and whether it is on the Pareto front."""

    record: TrialRecord
    rank: int | None
    on_front: bool
