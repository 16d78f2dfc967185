"""How much of a difference between two mixtures is signal (pure maths, milliseconds).

Definitions follow Signal and Noise (AI2, arXiv 2508.13144) and SIGNAL.md:
- signal of an objective over a set of trials: the spread of their values (max - min);
- noise: the standard deviation a rerun of one trial would show: seeds (the same mixture
  retrained with other seeds: the run's own replicas or ``codemix_search calibrate``) and item
  sampling (paired standard error of a difference on the same eval items), combined in
  quadrature, with the seed estimate's degrees of freedom. Checkpoint-to-checkpoint spread is shown
  but not counted: it is measured at the end of a cooldown that anneals the learning rate to 0,
  where the weights barely move (~0 by construction);
- SNR = signal / noise, a displayed figure. The verdict is a test, not a fixed threshold: the
  range of n values of pure noise grows with n (a range-based SNR > 3 in 96% of 30-point null
  grids), so "ranks mixtures" needs the SNR above the 95% quantile of the studentized range of
  n values with the noise's degrees of freedom: at most 5% of null landscapes pass, for any n;
- ties: two values differ when their difference exceeds 1.96 standard errors of a difference
  (sqrt 2 x noise), seed noise included;
- minimum detectable difference (MDD, displayed): two-sided 5% test at 80% power, (1.96 + 0.84)
  x SE of a difference.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence

Z_ALPHA = 1.959964  # two-sided 5%
Z_POWER = 0.841621  # 80% power
FALSE_RANKING = 0.05  # share of pure-noise landscapes a verdict may call "ranks mixtures"
EXACT_DF = 1e6  # noise known exactly (item noise over hundreds of items): df -> infinity


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


def combined_noise(
    seed: float | None, seed_df: float | None, item: float | None
) -> tuple[float | None, float]:
    """(std, degrees of freedom) of seed and item noise in quadrature. The dof is the seed
    estimate's: item noise (hundreds of items) is known far better, so the sum varies less than
    a chi-square with that dof and the test stays conservative. (Satterthwaite's dof, computed
    from the estimated seed std, called 12% of pure-noise 4-trial landscapes a ranking: a low
    estimate raises its own dof.)"""
    parts = [x for x in (seed, item) if x is not None]
    if not parts:
        return None, EXACT_DF
    sigma = math.sqrt(sum(x * x for x in parts))
    return sigma, float(seed_df) if seed is not None and seed_df else EXACT_DF


DF_GRID = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 24, 30, 40, 60, 120, EXACT_DF)


@functools.lru_cache(maxsize=1024)
def _range_quantile(n: int, df: float, alpha: float) -> float:
    # imported here, not at the top: scipy.stats: 0.8 s
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1 - alpha, n, df))


def range_threshold(n: int, df: float = EXACT_DF, alpha: float = FALSE_RANKING) -> float:
    """The SNR (range over noise std) that n values of pure noise exceed with probability
    ``alpha``: the studentized range quantile (Tukey) with the noise's dof. 4 values, exact
    noise: 3.63; 30: 5.30; 200: 6.50 (a fixed 3 called noise a ranking 96% of the time at 30).
    Between tabulated dofs, linear in 1/dof as Tukey tables are read (error < 0.1%); a
    fractional dof below 1 is taken as 1."""
    if n < 2:
        return math.inf
    df = min(max(float(df), 1.0), EXACT_DF)
    hi = next(d for d in DF_GRID if d >= df)
    lo = max([d for d in DF_GRID if d <= df], default=hi)
    q_lo, q_hi = _range_quantile(int(n), lo, alpha), _range_quantile(int(n), hi, alpha)
    if lo == hi:
        return q_lo
    t = (1 / lo - 1 / df) / (1 / lo - 1 / hi)
    return q_lo + t * (q_hi - q_lo)


def verdict(
    snr_value: float | None, n: int = 0, df: float = EXACT_DF, seed_measured: bool = True
) -> str:
    """The objective's verdict over ``n`` trials: a 5% test of "the mixtures differ" against
    the range of n values of pure noise at the measured noise (``df``: its dof)."""
    if not seed_measured:
        without = "" if snr_value is None else f" (SNR {snr_value:.1f} without it)"
        return (
            f"seed noise not measured{without}: run `codemix_search calibrate` for this space "
            "or retrain points with training.seed_offset"
        )
    if snr_value is None:
        return "noise not measured: finish >= 2 trials"
    threshold = range_threshold(n, df)
    if snr_value > threshold:
        return f"ranks mixtures: SNR {snr_value:.1f} > {threshold:.1f} (5% null, {n} trials)"
    return (
        f"not resolved: SNR {snr_value:.1f} <= {threshold:.1f}, what pure noise reaches in 5% "
        f"of {n}-trial runs; do not trust its ranking"
    )


def differ(a: float, b: float, sigma: float | None) -> bool:
    """Two single values differ at 5% (two-sided) when |a - b| > 1.96 x sqrt 2 x sigma."""
    return sigma is not None and abs(a - b) > Z_ALPHA * math.sqrt(2) * sigma


def ties(points: Sequence[Sequence[float]], sigmas: Sequence[float | None]) -> list[list[int]]:
    """For each point, the other points it is statistically tied with: no objective's
    difference is significant (``differ``) given each objective's noise std (an unknown noise
    ties nothing: no claim either way)."""
    out = []
    for i, p in enumerate(points):
        out.append(
            [
                j
                for j, q in enumerate(points)
                if j != i
                and all(
                    s is not None and not differ(a, b, s)
                    for a, b, s in zip(p, q, sigmas, strict=True)
                )
            ]
        )
    return out
