"""``codemix_search plan --space S [--gpus N] [--gpu-type NAME] [--price-per-hour X] [--json]``:
what a search will cost before it runs (core/costs.py has the model).

    python -m codemix_search plan --space search_spaces/demo.yaml
    python -m codemix_search plan --space search_spaces/proxy_ladder.yaml --gpus 8 --gpu-type H100 --price-per-hour 2.5 --json
    python -m codemix_search plan --space search_spaces/demo.yaml --from-run runs/demo1   # learn from a run
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

from codemix_search.config.sources import load_sources
from codemix_search.config.space import sources_uri
from codemix_search.config.strategy import confirm_space, proxy_space
from codemix_search.core import costs
from codemix_search.core.mixture import BASES
from codemix_search.core.records import TrialStatus
from codemix_search.core.schedule import Schedule
from codemix_search.errors import ConfigError
from codemix_search.search.rung_placement import rung_iterations
from codemix_search.storage.folder import DamagedFile, Folder, cache_root
from codemix_search.storage.layout import RunLayout
from codemix_search.train.loop_config import max_reports


def learn(run_uri: str, model: str, device: str) -> costs.Throughput:
    """A throughput row from a run's trials (core/costs.learn_row): tokens/s, overhead, eval."""
    # imported here, not at the top: export.recipes pulls optuna
    from codemix_search.export.recipes import load_run

    records = load_run(Folder(run_uri))
    done = [r.metrics for r in records if r.finished and r.metrics.get("tokens_per_s")]
    if not done:
        raise ConfigError(run_uri, RunLayout.RECORDS, "no finished trial to learn throughput from")
    stopped = [
        r.metrics
        for r in records
        if r.status == TrialStatus.PRUNED
        and r.metrics.get("tokens")
        and r.metrics.get("time_total_s")
    ]
    return costs.learn_row(done, stopped, model, device, f"learnt from {run_uri}")


LEARNT = "throughput.json"
"""This machine's learnt rows (``<cache>/throughput.json``): every finished run, and
benchmarks/gpu_check.py with ``--record``, adds the row of its (model, device); ``plan`` and
``--dry-run`` prefer their pool (the median of the last ``KEEP_RUNS``, core/costs.pool) to the
built-in table (core/costs.py) and say where it came from and how much the runs spread.
Before, the last run's row replaced the others: after one run on a loaded machine, the next
tiny run on a quiet one spent 0.39 of the planned device-seconds."""
KEEP_RUNS = 10


def _observed() -> list[costs.Throughput]:
    folder = Folder(cache_root())
    try:
        rows = folder.read_json(LEARNT) if folder.exists(LEARNT) else []
        return [costs.Throughput(**{**r, "runs": 1, "tokens_per_s_range": None}) for r in rows]
    except (DamagedFile, TypeError):
        return []  # an unreadable cache is no table: the built-in rows stand


def learnt_rows() -> list[costs.Throughput]:
    """One pooled row per (model, device) over the runs recorded here."""
    by_pair: dict[tuple, list[costs.Throughput]] = {}
    for r in _observed():
        by_pair.setdefault((r.model, r.device), []).append(r)
    return [costs.pool(rows) for rows in by_pair.values()]


def record_row(row: costs.Throughput) -> None:
    """Add ``row`` to the learnt table (the last ``KEEP_RUNS`` of its (model, device) kept)."""
    rows = _observed()
    same = [r for r in rows if (r.model, r.device) == (row.model, row.device)]
    keep = [r for r in rows if (r.model, r.device) != (row.model, row.device)]
    keep += same[-(KEEP_RUNS - 1) :] if KEEP_RUNS > 1 else []
    Folder(cache_root()).write_json(LEARNT, [asdict(r) for r in [*keep, row]])


def device_of(records) -> str | None:
    """The device type a run's trials trained on, as a key of costs.DEVICES (None: unknown)."""
    names = {r.metrics.get("device_name") or r.metrics.get("device") for r in records}
    names.discard(None)
    return device_of_name(next(iter(names))) if len(names) == 1 else None


def device_of_name(name: str) -> str | None:
    """``NVIDIA H200`` -> ``H200``; ``cpu`` -> ``cpu``; None for a device without a plan row."""
    if name == "cpu":
        return "cpu"
    return next((d for d in costs.DEVICES if d != "cpu" and d in str(name)), None)


def learn_from_finished_run(run_uri: str, model: str) -> costs.Throughput | None:
    """After a run: its row, recorded for later plans (None when there is nothing to learn)."""
    # imported here, not at the top: export.recipes pulls optuna
    from codemix_search.export.recipes import load_run

    records = [r for r in load_run(Folder(run_uri)) if r.finished]
    device = device_of(records)
    if device is None or not any(r.metrics.get("tokens_per_s") for r in records):
        return None
    row = learn(run_uri, model, device)
    row = costs.Throughput(**{**row.__dict__, "source": f"learnt from run {run_uri}"})
    record_row(row)
    return row


def vocab_size(space) -> int:
    """The tokenizer's vocabulary: the sources file's (a team's data) or the demo's."""
    if space.data.sources is None:
        return space.data.vocab_size

    return load_sources(sources_uri(space.data, space.source_file)).vocab_size


def cost_plan(space, gpus: int = 0, gpu_type: str | None = None, price=None, row=None):
    """The space's plan on ``gpus`` GPUs of ``gpu_type`` (none: the CPU). One line when the
    request cannot be planned."""
    if space.search.strategy == "swarm":
        return _staged_plan(space, gpus, gpu_type, price, row)
    t = space.training
    if gpu_type is not None and gpu_type not in costs.DEVICES:
        raise ConfigError(
            "--gpu-type", "", f"unknown {gpu_type!r}; allowed: {', '.join(costs.DEVICES)}"
        )
    if gpus and gpu_type in (None, "cpu"):
        raise ConfigError("--gpus", "", "say which GPU with --gpu-type (e.g. H100)")
    if price is not None and not price > 0:
        raise ConfigError("--price-per-hour", "", f"{price}: must be > 0")
    device = gpu_type or "cpu"
    vocab, dev = vocab_size(space), costs.DEVICES[device]
    need = costs.memory_gib(t.model, vocab, t.batch_size // t.workers, t.seq_len)
    if need > dev.memory_gib:
        raise ConfigError(
            space.source_file,
            "training.model",
            f"{t.model} at batch {t.batch_size // t.workers} x {t.seq_len} per worker needs "
            f"~{need:.0f} GiB, {device} has {dev.memory_gib:g}: more workers or a smaller batch",
        )
    if row is None:
        try:
            row = costs.throughput(
                t.model, device, vocab, t.seq_len, table=[*learnt_rows(), *costs.TABLE]
            )
        except KeyError:
            raise ConfigError(
                "--gpu-type",
                "",
                f"no measured CPU throughput for model {t.model}; give --gpu-type, or "
                "--from-run RUN (a finished run of this model)",
            ) from None
    concurrency = space.budget.concurrency
    if gpus:
        concurrency = max(1, min(concurrency, gpus // t.workers))
    es = space.early_stopping
    reports = max_reports(t.evals, space.evaluation.noise_checkpoints)
    stopping = costs.Stopping(1.0, 1.0)
    if es.scheduler != "none":
        # the trial's overhead and a finished trial's evaluation in reports' time: they set
        # when the next trial starts, so what it sees at a rung
        per_report = t.tokens / reports / row.tokens_per_s
        rule = {}
        if es.scheduler == "asha" and es.metric == "objectives":  # search/rungs.py's rungs
            bpb = sum(o.metric == "bpb" for o in space.objectives)
            rule = {"rungs": rung_iterations(space)}
            if not space.preference.weighted:  # the front rule
                rule |= {"dominated_by": es.dominated_by, "objectives": max(1, bpb)}
        stopping = costs.simulate_asha(
            space.budget.samples,
            reports,
            es.grace_period,
            es.reduction_factor,
            concurrency,
            start=row.overhead_s / per_report,
            finish=row.eval_s / per_report,
            **rule,
        )
    bases = [b for b in space.inits if b in BASES]

    def at(r: costs.Throughput) -> costs.Plan:
        return costs.plan(
            space.budget.samples, t.tokens, t.model, vocab, t.seq_len, t.workers, concurrency,
            stopping, r, bases=len(bases), base_tokens=len(bases) * (t.init_tokens or t.tokens),
            price_per_hour=price, prefixes=prefixes_planned(space), prefix_tokens=prefix_tokens(t),
        )  # fmt: skip

    p = at(row)
    if row.tokens_per_s_range:  # what the slowest and the fastest run here would have taken
        walls = [at(replace(row, tokens_per_s=v)).wall_seconds for v in row.tokens_per_s_range]
        p = replace(p, wall_seconds_range=(min(walls), max(walls)))
    return p


def _staged_plan(space, gpus, gpu_type, price, row) -> costs.Plan:
    """``search.strategy: swarm``: the proxies, then the confirmations, one plan each."""
    stages = [proxy_space(space), confirm_space(space)]
    plans = [cost_plan(s, gpus, gpu_type, price, row if s is stages[1] else None) for s in stages]
    names = [f"proxies at {stages[0].training.model}", f"confirm at {space.training.model}"]
    return costs.staged(plans, names)


def prefix_tokens(t) -> int:
    """Tokens of a trial's continued pretraining (what its branched cooldowns share)."""
    return (
        Schedule(t.steps, t.lr, t.cooldown_share, t.warmup_share).cooldown_start * t.tokens_per_step
    )


def prefixes_planned(space) -> int:
    """Shared pretraining prefixes a branched search trains (0: it does not branch): a grid's
    distinct points over the non-cooldown parameters, or one per ``branching.variants`` trials
    (points to evaluate each start their own)."""
    if not space.branches_cooldowns:
        return 0
    samples = space.budget.samples
    if space.sampler == "grid":
        cooldown = set(space.cooldown_param_names)
        kept = [len(p.choices) for p in space.parameters
                if p.type == "categorical" and p.name not in cooldown]  # fmt: skip
        return min(samples, math.prod(kept))
    return min(samples, math.ceil(samples / space.branching.variants))


BASES_NOTE = "trained first, skipped once cached"


def plan_table(p: costs.Plan, space) -> str:
    s = space.training
    row = p.throughput
    lines = [
        f"plan for {space.name}: {p.trials} trials, {p.concurrency} at a time, model {s.model} "
        f"({costs.non_embedding_params(s.model) / 1e6:.1f}M non-embedding, "
        f"{costs.total_params(s.model, vocab_size(space)) / 1e6:.1f}M total) on {row['device']}",
        f"  throughput   {row['tokens_per_s']:,.0f} tokens/s per trial, {row['overhead_s']:.0f} s "
        f"overhead, {row['eval_s']:.0f} s eval ({row['source']})",
        f"  tokens       {p.tokens:,} expected (sd {p.tokens_sd:,} over which trials ASHA "
        f"stops) of {p.planned_tokens:,} planned ({p.finished_trials:g} trials expected to "
        "finish)",
        *(
            [
                f"  branching    {p.trials} trials from {p.prefixes} shared pretraining prefixes: "
                f"{p.shared_tokens:,} tokens not repeated (in the tokens above)"
            ]
            if p.prefixes
            else []
        ),  # fmt: skip
        *(
            f"  stage        {st['stage']}: {st['trials']} trials, {st['tokens']:,} tokens, "
            f"{st['wall_seconds'] / 60:.1f} min"
            for st in p.stages
        ),
        f"  FLOPs        {p.flops:.3g}",
        f"  device time  {p.device_seconds / 3600:.2f} device-hours ({p.device_seconds:,.0f} s)",
        f"  wall clock   {p.wall_seconds / 60:.1f} min"
        + (
            f" ({p.wall_seconds_range[0] / 60:.1f}-{p.wall_seconds_range[1] / 60:.1f} at the "
            f"{row['runs']} runs' fastest and slowest throughput, "
            f"{row['tokens_per_s_range'][1]:,.0f}-{row['tokens_per_s_range'][0]:,.0f} tokens/s)"
            if p.wall_seconds_range
            else ""
        ),
        *(
            [f"  bases        {p.bases_seconds:,.0f} s of both: {BASES_NOTE}"]
            if p.bases_seconds
            else []
        ),
        f"  cost         {'-' if p.cost is None else f'{p.cost:,.2f}'}",
    ]
    return "\n".join(lines)
