"""What a search will cost before it runs (pure): trials, tokens, training FLOPs (the ledger's
formula), what early stopping is expected to save, device-seconds, wall-clock and money.

A trial's time = fixed overhead (Ray Train start, imports, compile, the in-loop validation) +
its tokens / throughput + its evaluation when it finishes. Throughput, overhead and eval time
come from a table per (model size, device type): rows measured here on the CPU, or learnt from a
past run's records (``codemix_search plan --from-run RUN``); a GPU without a row is estimated at
30% MFU of its bf16 peak and says so.

Early stopping is simulated, not assumed: ASHA's own rule (stop below the rung's 1 - 1/rf
quantile of values recorded so far) replayed over the trials as they run, ``concurrency`` at a
time, with random, persistent ranks (a trial ahead at one rung stays ahead), the first trial
never stopped (the baseline); a trial sees only what was recorded before it reached the rung.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import asdict, dataclass, replace
from statistics import median
from typing import NamedTuple

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
    """What every trial spends besides its tokens: Train start, imports, compile, in-loop
    validation and checkpoints (a trial stopped early spends this and its tokens)."""
    eval_s: float
    """What a finished trial adds: the cooldown's last checkpoint, evaluation (lm-eval +
    checkpoint noise) and the writes around it."""
    source: str
    runs: int = 1
    """How many runs' rows were pooled into this one (``pool``)."""
    tokens_per_s_range: tuple[float, float] | None = None
    """The slowest and fastest of those runs: what another run here may see."""


# Measured on this project's 2-core CPU machine, 2 trials at a time, with core/costs.learn_row
# (Tune's clock per trial): the tiny space pooled over 5 runs (seeds 0-4, 2026-11-30: 11 trials
# finished, 9 stopped) and the demo space's run of 2026-11-30 (4 finished, 8 stopped).
# Re-measured after the ledger began counting a trial's whole time: the older rows (tiny 1978
# tokens/s, 30.6 s overhead, 6 s eval, from 2 trials) missed ~6 s a trial and over-planned a
# run with a cached base by 27% (docs/plan.md).
TABLE = [
    Throughput("tiny", "cpu", 2090.0, 18.9, 18.3, "measured: 5 tiny space runs, 2 at a time"),
    Throughput("demo", "cpu", 5618.0, 17.3, 39.4, "measured: demo space run, 2 at a time"),
]
RUN_OVERHEAD_S = 10.0
"""Ray start (5-7 s) and the export and report after the search (3-4 s): tiny and demo runs on 2
cores, 2026-11-30 (``_SUCCESS`` has each stage). Building the dataset on a first run is left out
(tiny 15 s, demo 12 s here; minutes for a team's corpus)."""


def learn_row(finished: list[dict], stopped: list[dict], model: str, device: str, source: str):
    """A throughput row from a run's trials' last results (pure). Tokens/s: the finished
    trials' median. Each trial's time is Tune's clock for the whole trial (``time_total_s``:
    Train start, loop, evaluation and writes), so the plan counts what a slot is held for.
    ``overhead_s``: what a trial stopped early spends besides its tokens (start-up, in-loop
    validation, checkpoints; ~19 s of tiny's on 2 cores, 15 of them Ray Train's start); a
    finished trial's extra time over that (cooldown's last checkpoint, evaluation, writes:
    ~19 s on tiny) is ``eval_s``. Without stopped trials the loop's own start-up stands for
    the overhead (``train_seconds`` less its tokens)."""
    tps = median(m["tokens_per_s"] for m in finished)

    def whole(m):
        return float(m.get("time_total_s") or m["train_seconds"] + m.get("eval_seconds", 0.0))

    done = [whole(m) - m["tokens"] / tps for m in finished]
    if stopped:
        overhead = median(whole(m) - m["tokens"] / tps for m in stopped)
    else:
        overhead = median(m["train_seconds"] - m["tokens"] / tps for m in finished)
    overhead = max(0.0, overhead)
    return Throughput(model, device, tps, overhead, max(0.0, median(done) - overhead), source)


def pool(rows: list[Throughput]) -> Throughput:
    """One row from several runs' rows of one (model, device): the median of each figure (a
    run on a loaded machine moves it less than it moves a mean), with the runs' range of
    tokens/s kept as the spread (pure)."""
    tps = [r.tokens_per_s for r in rows]
    first = rows[0]
    if len(rows) == 1:
        return first
    return Throughput(
        first.model, first.device, median(tps), median(r.overhead_s for r in rows),
        median(r.eval_s for r in rows), f"learnt from runs here: median of {len(rows)}",
        len(rows), (min(tps), max(tps)),
    )  # fmt: skip


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


class Stopping(NamedTuple):
    share: float
    """Expected share of the planned tokens trained."""
    finished: float
    """Expected share of trials that finish."""
    share_sd: float = 0.0
    """Standard deviation of ``share`` over simulated runs of this many trials."""


def simulate_asha(
    trials: int,
    reports: int,
    grace: int,
    rf: int,
    concurrency: int = 1,
    start: float = 0.0,
    finish: float = 0.0,
    sims: int = 400,
    seed: int = 0,
    rungs: list[int] | None = None,
    dominated_by: int | None = None,
    objectives: int = 1,
) -> Stopping:
    """The expected share of the planned reports trained (and its spread over runs: which
    trials ASHA stops is chance), and the share of trials that finish.

    ``concurrency`` trials run at once, in lockstep: a trial starts when a slot frees, spends
    ``start`` (its overhead, in reports' time) before its first report, and a finished one holds
    its slot ``finish`` longer (evaluation). At a rung a trial sees only the values recorded
    before it got there: two trials that started together never see each other, which is why
    ASHA stops fewer at 2 at a time than one after another (demo space: 62% of the tokens
    when replayed one at a time, 66% +- 10% here at 2, 74% measured in two runs at 2).

    ASHA's rule stops a trial whose value is below the rung's quantile; with ``dominated_by``
    (search/rungs.py's front rule) a trial whose ``objectives`` values are dominated by that many
    recorded ones, the objectives drawn independently (real ones correlate, which dominates more
    often: the plan then expects a little more training than a run spends)."""
    rungs = rungs if rungs is not None else milestones(reports, grace, rf)
    if not rungs or trials < 2:
        return Stopping(1.0, 1.0)
    # Bounded work whatever the budget: the shares settle within a hundred trials, so at most
    # SIM_TRIALS are simulated, and fewer runs of them the more there are (~12,800 trial
    # passes: ~1 s; 10,000 planned samples took over 2 minutes simulated one by one). The
    # spread of a run's share then scales as 1/sqrt(trials).
    simulated = min(trials, SIM_TRIALS)
    sims = max(25, min(sims, SIM_PASSES // simulated))
    rng = random.Random(seed)
    shares, finished = [], 0.0
    q = 1 - 1 / rf
    for _ in range(sims):
        recorded: dict[int, list[tuple[float, float]]] = {m: [] for m in rungs}
        slots, trained = [0.0] * max(1, concurrency), 0.0
        for i in range(simulated):
            begun, stop = heapq.heappop(slots), None
            value = tuple(rng.random() for _ in range(objectives)) if dominated_by else rng.random()
            for m in rungs:
                at = begun + start + m
                seen = [v for t, v in recorded[m] if t < at]
                if i and seen and _stops(value, seen, q, dominated_by):
                    stop = m
                recorded[m].append((at, value))
                if stop:
                    break
            heapq.heappush(slots, begun + start + (stop or reports) + (0 if stop else finish))
            trained += (stop or reports) / reports
            finished += stop is None
        shares.append(trained / simulated)
    sd = float(np.std(shares)) * (simulated / trials) ** 0.5
    return Stopping(float(np.mean(shares)), finished / (sims * simulated), sd)


def _stops(value, seen: list, q: float, dominated_by: int | None) -> bool:
    if dominated_by is None:  # ASHA: below the quantile (higher is better here)
        return value < _quantile(seen, q)
    beaten = sum(all(o >= v for o, v in zip(other, value, strict=True)) for other in seen)
    return beaten >= dominated_by


SIM_TRIALS = 128
SIM_PASSES = 12_800


def _quantile(values: list[float], q: float) -> float:
    """numpy's default (linear) quantile of a short list, without numpy's per-call overhead
    (~50 us: it was 85% of a plan's time)."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    return s[lo] if lo + 1 >= len(s) else s[lo] + (s[lo + 1] - s[lo]) * (pos - lo)


@dataclass(frozen=True)
class Plan:
    trials: int
    concurrency: int
    planned_tokens: int
    tokens: int
    """Expected training tokens after early stopping (bases included)."""
    tokens_sd: int
    """Their standard deviation over runs (which trials ASHA stops is chance)."""
    flops: float
    finished_trials: float
    device_seconds: float
    wall_seconds: float
    bases_seconds: float
    """Training the bases before the trials (in both totals; 0 once they are cached)."""
    cost: float | None
    throughput: dict
    wall_seconds_range: tuple[float, float] | None = None
    """The wall clock at the fastest and the slowest pooled run's throughput."""
    prefixes: int = 0
    """Shared pretraining prefixes the trials branch from (0: no branching)."""
    shared_tokens: int = 0
    """Pretraining tokens branching does not repeat (out of ``tokens`` already)."""
    stages: tuple = ()
    """Swarm-and-confirm: each stage's own plan (dicts); the totals above are their sums."""

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
    stopping: Stopping | tuple,
    row: Throughput,
    bases: int = 0,
    base_tokens: int = 0,
    price_per_hour: float | None = None,
    prefixes: int = 0,
    prefix_tokens: int = 0,
) -> Plan:
    """``stopping``: what ``simulate_asha`` gives (or a run's own (share, finished)).
    Device-seconds count every worker of a trial; wall-clock runs ``concurrency`` trials at a
    time after the ``bases`` (``base_tokens`` together; trained one after another before any
    trial, each with a trial's overhead; none where they are cached)."""
    share, finish, share_sd = Stopping(*stopping)
    tokens_sd = trials * tokens_per_trial * share_sd
    trial_s = row.overhead_s + tokens_per_trial * share / row.tokens_per_s + row.eval_s * finish
    bases_s = base_tokens / row.tokens_per_s + bases * row.overhead_s
    # Branching (train/prefix.py): trials beyond the first of each prefix skip its pretraining
    # (``prefix_tokens`` each); each prefix costs one more start-up (its own Train run).
    shared = max(0, trials - prefixes) * prefix_tokens if prefixes else 0
    shared = min(shared, round(trials * tokens_per_trial * share) - prefixes * prefix_tokens)
    shared = max(0, shared)
    saved_s = shared / row.tokens_per_s - prefixes * row.overhead_s
    device_s = (trials * trial_s + bases_s - saved_s) * workers
    tokens = trials * tokens_per_trial * share + base_tokens - shared
    return Plan(
        trials=trials,
        concurrency=concurrency,
        planned_tokens=trials * tokens_per_trial,
        tokens=round(tokens),
        tokens_sd=round(tokens_sd),
        flops=tokens * flops_per_token(model, vocab_size, seq_len),
        finished_trials=round(trials * finish, 1),
        device_seconds=round(device_s, 1),
        wall_seconds=round(
            RUN_OVERHEAD_S
            + bases_s
            + math.ceil(trials / max(1, concurrency)) * trial_s
            - saved_s / max(1, concurrency),
            1,
        ),
        bases_seconds=round(bases_s, 1),
        cost=round(device_s / 3600 * price_per_hour, 2) if price_per_hour else None,
        throughput=asdict(row),
        prefixes=prefixes,
        shared_tokens=round(shared),
    )


def staged(plans: list[Plan], names: list[str]) -> Plan:
    """Stages run one after another: tokens, FLOPs, device time, wall clock and cost add up."""
    last = plans[-1]  # the space's own model and throughput head the table
    total = {k: sum(getattr(p, k) for p in plans)
             for k in ("trials", "planned_tokens", "tokens", "tokens_sd", "flops",
                       "finished_trials", "device_seconds", "wall_seconds", "bases_seconds")}  # fmt: skip
    costs = [p.cost for p in plans]
    return replace(
        last,
        **total,
        cost=None if None in costs else round(sum(costs), 2),
        wall_seconds_range=None,
        stages=tuple({"stage": n, **asdict(p)} for n, p in zip(names, plans, strict=True)),
    )
