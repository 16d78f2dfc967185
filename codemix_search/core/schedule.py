"""Warmup-stable-decay learning-rate schedule with named phases (pure, unit-tested).

The paper's protocol is continued pretraining followed by a cooldown in which the learning rate is
annealed; we model it as one WSD schedule whose decay is the cooldown phase. With 400 steps,
cooldown_share=0.2 and warmup_share=0.05: warmup 20 steps, stable until step 320, then linear decay
to exactly 0 at the last step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    total_steps: int
    """Optimizer steps over both phases."""
    peak_lr: float
    cooldown_share: float = 0.2
    """Share of steps (= of tokens, at a fixed batch) in the cooldown/decay phase."""
    warmup_share: float = 0.05
    """Share of steps of linear warmup at the start of continued pretraining."""

    def __post_init__(self):
        if self.total_steps < 2:
            raise ValueError(f"total_steps must be >= 2, got {self.total_steps}")
        if not self.peak_lr > 0:
            raise ValueError(f"peak_lr must be > 0, got {self.peak_lr}")
        if not 0 < self.cooldown_share < 1:
            raise ValueError(f"cooldown_share must be in (0, 1), got {self.cooldown_share}")
        if not 0 <= self.warmup_share < 1 - self.cooldown_share:
            raise ValueError("warmup_share must be in [0, 1 - cooldown_share)")

    @property
    def cooldown_steps(self) -> int:
        return max(1, round(self.total_steps * self.cooldown_share))

    @property
    def cooldown_start(self) -> int:
        """First step of the cooldown phase."""
        return self.total_steps - self.cooldown_steps

    @property
    def warmup_steps(self) -> int:
        return min(round(self.total_steps * self.warmup_share), self.cooldown_start)

    def phase(self, step: int) -> str:
        return "cooldown" if step >= self.cooldown_start else "pretrain"

    def phase_steps(self) -> dict[str, int]:
        return {"pretrain": self.cooldown_start, "cooldown": self.cooldown_steps}

    def lr(self, step: int) -> float:
        """Learning rate used for optimizer step ``step`` (0-based)."""
        if step < 0 or step >= self.total_steps:
            raise ValueError(f"step {step} outside [0, {self.total_steps})")
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        if step < self.cooldown_start:
            return self.peak_lr
        # Linear decay that reaches 0 on the last step: the model ends fully annealed.
        remaining = self.total_steps - 1 - step
        return self.peak_lr * remaining / max(1, self.cooldown_steps - 1) if remaining else 0.0


def max_reports(evals: int, noise_points: int) -> int:
    """An upper bound on a trial's training reports (evals, pre-cooldown, mid-cooldown, noise
    points)."""
    return evals + 2 + max(0, noise_points - 1)
