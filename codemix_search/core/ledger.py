"""The cost ledger (pure): what each trial cost, in tokens, model FLOPs and device-seconds, and what
early stopping saved. Records carry it as ``cost``; recipes carry their trial's; the report and
``ledger.json`` carry the run's totals.

Training FLOPs follow Kaplan et al. (2020): per token, 6·N for the weight matmuls (forward 2·N,
backward 4·N) plus 6·n_layer·n_ctx·d_model for attention scores and values. N counts the
non-embedding weights of our Llama shape (attention 4·d², SwiGLU MLP 3·d·d_ff per layer) plus the
tied LM head (V·d), which is a real matmul; the input embedding lookup is free. For the tiny model
(d 64, 2 layers, d_ff 192, V 2048, seq 64) that is 6·(106,496 + 131,072) + 6·2·64·64 = 1.47 MFLOP
per token.
"""

from __future__ import annotations

from codemix_search.core.records import Cost, TrialRecord, TrialStatus
from codemix_search.core.sizes import SIZES


def matmul_params(size: str, vocab_size: int) -> int:
    s = SIZES[size]
    per_layer = 4 * s.hidden * s.hidden + 3 * s.hidden * s.intermediate
    return s.layers * per_layer + vocab_size * s.hidden


def flops_per_token(size: str, vocab_size: int, seq_len: int) -> float:
    s = SIZES[size]
    return 6.0 * matmul_params(size, vocab_size) + 6.0 * s.layers * seq_len * s.hidden


def trial_cost(record: TrialRecord, space, vocab_size: int) -> Cost:
    """One trial's ledger entry. Pruned and diverged trials count what they trained; the rest of
    their planned budget is what early stopping (or divergence detection) saved."""
    t = space.training_for(record.config)
    m = record.metrics
    per_token = flops_per_token(t.model, vocab_size, t.seq_len)
    used = int(m.get("tokens") or 0)
    if record.finished:
        used = max(used, t.tokens)
    # A branched cooldown (train/prefix.py) trained only what follows its shared prefix when
    # another trial trained the prefix: those tokens are that trial's.
    shared = int(m.get("shared_tokens") or 0)
    used = max(0, used - shared)
    if record.reused_from:  # a twin's result (same mixture and seed): nothing was trained
        used, shared = 0, 0
    stopped = record.status in (TrialStatus.PRUNED, TrialStatus.DIVERGED)
    saved = max(0, t.tokens - shared - used) if stopped else 0
    # Device-seconds: every worker for the training wall time (Tune's clock for a stopped
    # trial, which never reported its own) plus the trial's own process for the rest of the
    # trial: evaluation, and set-up and writes around it (~6 s of a 47 s tiny trial on 2 cores
    # that train_seconds + eval_seconds left out).
    train_s = float(m.get("train_seconds") or m.get("time_total_s") or 0.0)
    driver_s = float(m.get("eval_seconds") or 0.0)
    if record.finished and m.get("train_seconds"):
        train_s = float(m["train_seconds"])
        driver_s = max(driver_s, float(m.get("time_total_s") or 0.0) - train_s)
    if record.reused_from:
        train_s = driver_s = 0.0
    return Cost(
        tokens=used,
        planned_tokens=t.tokens,
        flops=used * per_token,
        saved_tokens=saved,
        saved_flops=saved * per_token,
        device_seconds=round(train_s * t.workers + driver_s, 2),
        flops_per_token=per_token,
        shared_tokens=shared,
    )


def run_totals(costs: list[Cost]) -> dict:
    """Sums over the run, and the share of the planned compute that early stopping saved."""
    keys = ("tokens", "planned_tokens", "flops", "saved_tokens", "saved_flops", "device_seconds",
            "shared_tokens")  # fmt: skip
    out = {k: sum(getattr(c, k) for c in costs) for k in keys}
    out["device_seconds"] = round(out["device_seconds"], 2)
    spent_or_saved = out["tokens"] + out["saved_tokens"]
    out["saved_share"] = out["saved_tokens"] / spent_or_saved if spent_or_saved else 0.0
    # Branching's share of what the trials would have trained without it (stopped or not).
    whole = spent_or_saved + out["shared_tokens"]
    out["shared_share"] = out["shared_tokens"] / whole if whole else 0.0
    out["trials"] = len(costs)
    return out


def line(totals: dict) -> str:
    return (
        f"cost: {totals['tokens']:,} tokens, {totals['flops']:.3g} FLOPs, "
        f"{totals['device_seconds']:,.0f} device-seconds; early stopping saved "
        f"{totals['saved_tokens']:,} tokens ({totals['saved_share']:.0%})"
        + (
            f"; shared pretraining saved {totals['shared_tokens']:,} tokens "
            f"({totals['shared_share']:.0%})"
            if totals.get("shared_tokens")
            else ""
        )
    )
