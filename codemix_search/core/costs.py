"""What a search will cost before it runs (pure): trials, tokens, training FLOPs (the ledger's
formula), what early stopping is expected to save, device-seconds, wall-clock and money.

A trial's time = fixed overhead (Ray Train start, imports, compile, the in-loop validation) +
its tokens / throughput + its evaluation when it finishes. Throughput, overhead and eval time
come from a table per (model size, device type): rows measured here on the CPU, or learnt from a
past run's records (``codemix_search plan --from-run RUN``); a GPU without a row is estimated at
30% MFU of its bf16 peak and says so.

Early stopping is simulated, not assumed: ASHA's own rule (stop below the rung's 1 - 1/rf
quantile of values recorded so far) replayed over the trials in arrival order with random,
persistent ranks (a trial ahead at one rung stays ahead), the first trial never stopped (the
baseline). On the demo space it predicts 62% of the planned tokens and 41% of trials finishing;
the measured run trained 77% and finished 50% (two trials at a time pass rungs before either is
recorded, which the sequential replay does not see).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import numpy as np

from codemix_search.core.ledger import flops_per_token
from codemix_search.core.sizes import SIZES


@dataclass(frozen=True)
class Device:
    name: str
    memory_gib: float
    peak_tflops: float
    """Dense bf16 peak; 0 for the CPU (no estimate without a measured row)."""


DEVICES = {
    "cpu": Device("cpu", 24.0, 0.0),
    "L4": Device("L4", 24.0, 121.0),
    "A10G": Device("A10G", 24.0, 125.0),
    "A100": Device("A100", 80.0, 312.0),
    "H100": Device("H100", 80.0, 989.0),
    "H200": Device("H200", 141.0, 989.0),
}
ESTIMATED_MFU = 0.30


@dataclass(frozen=True)
class Throughput:
    model: str
    device: str
    tokens_per_s: float
    """Training tokens per second of one trial (all its workers together)."""
    overhead_s: float
    """A trial's time besides its tokens and its evaluation: Train start, imports, compile,
    in-loop validation and checkpoints."""
    eval_s: float
    """Evaluation of a finished trial (lm-eval + checkpoint noise)."""
    source: str


# Measured on this project's 2-core CPU machine, 2 trials at a time (medians over finished
# trials: tokens_per_s reported by the loop; overhead = train_seconds - tokens / tokens_per_s;
# eval_seconds): the tiny space (4 trials, 2026-11-29) and the demo space (12 trials,
# docs/signal.md).
TABLE = [
    Throughput("tiny", "cpu", 1978.0, 30.6, 6.0, "measured: tiny space run, 2 trials at a time"),
    Throughput("demo", "cpu", 4097.0, 25.0, 32.1, "measured: demo space run, 2 trials at a time"),
]
RUN_OVERHEAD_S = 30.0
"""Ray start, data check, export: measured 25-35 s on the tiny and demo runs."""


def non_embedding_params(size: str) -> int:
    s = SIZES[size]
    return s.layers * (4 * s.hidden * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden)


def total_params(size: str, vocab_size: int) -> int:
    """Tied input/output embedding counted once, plus the final norm."""
    return non_embedding_params(size) + vocab_size * SIZES[size].hidden + SIZES[size].hidden


def throughput(model: str, device: str, vocab_size: int, seq_len: int, table=None) -> Throughput:
    """The table's row, or for a GPU an estimate at ESTIMATED_MFU of its peak."""
    for row in table if table is not None else TABLE:
        if row.model == model and row.device == device:
            return row
    dev = DEVICES[device]
    if dev.peak_tflops <= 0:
        raise KeyError(model)
    per_token = flops_per_token(model, vocab_size, seq_len)
    return Throughput(
        model,
        device,
        ESTIMATED_MFU * dev.peak_tflops * 1e12 / per_token,
        70.0,
        60.0,
        f"estimated: {ESTIMATED_MFU:.0%} MFU of the {device} bf16 peak, ~60 s of compile",
    )


def memory_gib(size: str, vocab_size: int, batch_per_worker: int, seq_len: int) -> float:
    """Training memory of one worker: weights, grads and AdamW states (16 bytes a parameter
    with fp32 master weights) plus activations (~34 bytes per token, hidden unit and layer in
    bf16, Korthikanti et al. 2022) and fp32 logits (4 bytes per token and vocabulary entry)."""
    s = SIZES[size]
    tokens = batch_per_worker * seq_len
    activations = 34 * tokens * s.hidden * s.layers + 4 * tokens * vocab_size
    return (16 * total_params(size, vocab_size) + activations) / 2**30


def milestones(reports: int, grace: int, rf: int) -> list[int]:
    out, m = [], grace
    while m < reports:
        out.append(m)
        m *= rf
    return out


def simulate_asha(
    trials: int, reports: int, grace: int, rf: int, sims: int = 400, seed: int = 0
) -> tuple[float, float]:
    """(expected share of the planned reports trained, share of trials that finish)."""
    rungs = milestones(reports, grace, rf)
    if not rungs or trials < 2:
        return 1.0, 1.0
    rng = random.Random(seed)
    trained = finished = 0.0
    for _ in range(sims):
        recorded: dict[int, list[float]] = {m: [] for m in rungs}
        for i in range(trials):
            value, stop = rng.random(), None
            for m in rungs:
                seen = recorded[m]
                if i and seen and value < np.nanpercentile(seen, (1 - 1 / rf) * 100):
                    stop = m
                seen.append(value)
                if stop:
                    break
            trained += (stop or reports) / reports
            finished += stop is None
    return trained / (sims * trials), finished / (sims * trials)


@dataclass(frozen=True)
class Plan:
    trials: int
    concurrency: int
    planned_tokens: int
    tokens: int
    """Expected training tokens after early stopping (bases included)."""
    flops: float
    finished_trials: float
    device_seconds: float
    wall_seconds: float
    cost: float | None
    throughput: dict

    def to_dict(self) -> dict:
        return asdict(self)


def plan(
    trials: int,
    tokens_per_trial: int,
    model: str,
    vocab_size: int,
    seq_len: int,
    workers: int,
    concurrency: int,
    stopping: tuple[float, float],
    row: Throughput,
    base_tokens: int = 0,
    price_per_hour: float | None = None,
) -> Plan:
    """``stopping``: (share of tokens trained, share of trials finished). Device-seconds count
    every worker of a trial; wall-clock runs ``concurrency`` trials at a time after the bases
    (trained one after another before any trial)."""
    share, finish = stopping
    trial_s = row.overhead_s + tokens_per_trial * share / row.tokens_per_s + row.eval_s * finish
    bases_s = (base_tokens / row.tokens_per_s + row.overhead_s) if base_tokens else 0.0
    device_s = (trials * trial_s + bases_s) * workers
    tokens = trials * tokens_per_trial * share + base_tokens
    return Plan(
        trials=trials,
        concurrency=concurrency,
        planned_tokens=trials * tokens_per_trial,
        tokens=round(tokens),
        flops=tokens * flops_per_token(model, vocab_size, seq_len),
        finished_trials=round(trials * finish, 1),
        device_seconds=round(device_s, 1),
        wall_seconds=round(
            RUN_OVERHEAD_S + bases_s + math.ceil(trials / max(1, concurrency)) * trial_s, 1
        ),
        cost=round(device_s / 3600 * price_per_hour, 2) if price_per_hour else None,
        throughput=asdict(row),
    )
