"""How much of a difference between two mixtures is signal (pure maths, milliseconds).

Definitions follow Signal and Noise (AI2, arXiv 2508.13144) and SIGNAL.md:
- signal of an objective over a set of trials: the spread of their values (max - min);
- noise: the standard deviation one trial's value would have anyway. Three measured sources:
  checkpoint-to-checkpoint (the objective at a trial's last k evaluation points), item sampling
  (paired standard error of a difference on the same eval items) and seeds (the same mixture
  retrained with other seeds, ``codemix_search calibrate``);
- SNR = signal / noise; the verdict trusts an objective's ranking at SNR >= 3;
- minimum detectable difference (MDD): two-sided 5% test at 80% power, (1.96 + 0.84) x SE of a
  difference.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

Z_ALPHA = 1.959964  # two-sided 5%
Z_POWER = 0.841621  # 80% power
SNR_TRUSTED = 3.0


def mdd(se_difference: float) -> float:
    """Minimum detectable difference for a difference with standard error ``se_difference``."""
    return (Z_ALPHA + Z_POWER) * se_difference


def paired_se_mean(a: Sequence[float], b: Sequence[float]) -> float:
    """SE of mean(a) - mean(b) when a[i] and b[i] score the same item (accuracy, Brier)."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    return statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.inf


def paired_se_bpb(
    bits_a: Sequence[float], bits_b: Sequence[float], n_bytes: Sequence[int]
) -> float:
    """SE of BPB(a) - BPB(b) on the same items, BPB = sum(bits) / sum(bytes): the difference is
    sum(bits_a - bits_b) / sum(bytes), a sum of n paired item differences."""
    d = [x - y for x, y in zip(bits_a, bits_b, strict=True)]
    if len(d) < 2:
        return math.inf
    return math.sqrt(len(d)) * statistics.stdev(d) / max(1, sum(n_bytes))


def combine_se(ses: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """SE of a weighted mean of independent task scores (a category objective)."""
    weights = list(weights or [1.0] * len(ses))
    total = sum(weights)
    return math.sqrt(sum((w / total) ** 2 * s**2 for w, s in zip(weights, ses, strict=True)))


def checkpoint_std(values: Sequence[float]) -> float | None:
    """Std of one trial's objective over its last k evaluation points (None for k < 2)."""
    return statistics.stdev(values) if len(values) >= 2 else None


def pooled_std(groups: Mapping[str, Sequence[float]]) -> float | None:
    """Within-group std pooled over groups (seed replicas of each mixture): sqrt of the
    degrees-of-freedom-weighted mean variance. None when no group has two values."""
    num = sum((len(v) - 1) * statistics.variance(v) for v in groups.values() if len(v) >= 2)
    dof = sum(len(v) - 1 for v in groups.values() if len(v) >= 2)
    return math.sqrt(num / dof) if dof else None


def snr(values: Sequence[float], noise: float | None) -> float | None:
    """Spread of ``values`` over the noise std (None when either is unknown)."""
    if noise is None or len(values) < 2:
        return None
    spread = max(values) - min(values)
    if noise <= 0:
        return math.inf if spread > 0 else None
    return spread / noise


def verdict(snr_value: float | None) -> str:
    if snr_value is None:
        return "noise not measured: finish >= 2 trials with >= 2 evaluation points"
    if snr_value >= SNR_TRUSTED:
        return f"ranks mixtures: SNR {snr_value:.1f}"
    return f"noise: SNR {snr_value:.1f} < {SNR_TRUSTED:g}, do not trust its ranking"


def ties(points: Sequence[Sequence[float]], mdds: Sequence[float | None]) -> list[list[int]]:
    """For each point, the other points it is statistically tied with: within the minimum
    detectable difference on every objective (an unknown MDD ties nothing)."""
    out = []
    for i, p in enumerate(points):
        out.append(
            [
                j
                for j, q in enumerate(points)
                if j != i
                and all(
                    m is not None and abs(a - b) < m for a, b, m in zip(p, q, mdds, strict=True)
                )
            ]
        )
    return out
