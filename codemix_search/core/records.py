"""The schema of records.jsonl: one ``TrialRecord`` per trial, and what a trial's status can be.

Search builds them from Tune's results; export adds what it derives (the cost ledger, the
comparison with the baseline) as new records (``with_export``), never by editing one in place.
Read back with ``TrialRecord.from_dict``: a row of another schema version is one clear error.
"""

from __future__ import annotations

import dataclasses
import enum
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
    cost: dict | None = None
    """Cost ledger entry (core/ledger.py), added at export."""
    vs_baseline: dict | None = None
    """Relative change and judged win-rate against the baseline trial, added at export."""

    def __post_init__(self):
        if not isinstance(self.status, TrialStatus):
            object.__setattr__(self, "status", TrialStatus(self.status))

    @property
    def finished(self) -> bool:
        return self.status is TrialStatus.FINISHED

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
