"""A finished trial's scores: lm-eval on the final checkpoint (every task, ``evaluation.limit``
items, per-item values kept), the objectives at its last k checkpoints on a fixed subset
(checkpoint-to-checkpoint noise), and each source's held-out bits per byte."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from codemix_search.config.space import SearchSpace
from codemix_search.core.records import EvalScores
from codemix_search.core.suites import Suite, suite_for
from codemix_search.data.dataset import DataManifest, load_split, materialize
from codemix_search.data.sampler import validation_windows
from codemix_search.evaluate.harness import evaluate
from codemix_search.storage.layout import DatasetLayout


@dataclass
class TrialScores:
    flat: dict
    """``task/metric``, ``category/<c>[/<family>]``, ``heldout/<source>/bpb``."""
    objectives: dict
    items: dict
    """{task: {metric: per-item values}} at the final checkpoint."""
    generations: dict
    eval_seconds: float
    noise: dict = field(default_factory=dict)
    """{objective key: its values at the last k checkpoints, oldest first} (keyed by what is
    measured, e.g. category/code/bpb, so another space's objectives can reuse it)."""


def flatten(scores: EvalScores, suite: Suite) -> dict:
    flat = {
        f"{task}/{metric}": value
        for task, metrics in scores.tasks.items()
        for metric, value in metrics.items()
        if metric != "sample_len"
    }
    flat.update(suite.all_category_scores(scores.tasks))
    return flat


def bytes_per_token(local: str, manifest: DataManifest, tokenizer, sources, val_sequences, seq_len):
    """UTF-8 bytes per predicted token of each source's validation windows (the training loop's
    ``val_loss/<source>`` averages over exactly those tokens: positions 1..seq_len-1)."""
    out = {}
    for s in sources:
        windows = validation_windows(load_split(local, manifest, s, "val"), val_sequences, seq_len)
        n_bytes = sum(
            len(tokenizer.decode(w[1:].tolist(), skip_special_tokens=True).encode("utf-8"))
            for w in windows
        )
        out[s] = max(1, n_bytes) / (len(windows) * (seq_len - 1))
    return out


def heldout_bpb(metrics: dict, per_token: dict[str, float]) -> dict[str, float]:
    """``heldout/<source>/bpb`` from a report's ``val_loss/<source>`` (nats per token)."""
    return {
        f"heldout/{s}/bpb": metrics[f"val_loss/{s}"] / math.log(2) / b
        for s, b in per_token.items()
        if f"val_loss/{s}" in metrics
    }


def objective_tasks(space: SearchSpace, suite: Suite) -> list[str]:
    names = set()
    for o in space.objectives:
        if o.category:
            names |= {t.name for t in suite.tasks_for(o.category, o.metric)}
        elif o.task:
            names.add(o.task)
    return sorted(names)


def score_trial(
    result, space: SearchSpace, data_uri: str, manifest: DataManifest, training
) -> TrialScores:
    # imported here, not at the top: transformers: 0.7 s, more with torch
    from transformers import PreTrainedTokenizerFast

    local = materialize(data_uri, manifest)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(
        os.path.join(local, DatasetLayout.TOKENIZER)
    )
    suite = suite_for(space.evaluation)
    ev = space.evaluation
    eval_dir = os.path.join(local, DatasetLayout.EVAL) if suite.local else None
    sources = manifest.source_names
    per_token = bytes_per_token(
        local, manifest, tokenizer, sources, training.val_sequences, training.seq_len
    )

    def scores_at(checkpoint, limit, tasks=None):
        # imported here, not at the top: transformers: 0.7 s, more with torch
        from transformers import AutoModelForCausalLM

        with checkpoint.as_directory() as ckpt_dir:
            model = AutoModelForCausalLM.from_pretrained(ckpt_dir)
        model.eval()
        return evaluate(
            model,
            tokenizer,
            suite,
            eval_dir,
            limit,
            ev.batch_size,
            tasks=tasks,
            generative_prompts=ev.generative_prompts,
            task_limits=None if tasks else dict(ev.task_limits),
        )

    final = scores_at(result.checkpoint, ev.limit)
    flat = {**flatten(final, suite), **heldout_bpb(dict(result.metrics or {}), per_token)}
    out = TrialScores(
        flat=flat,
        objectives={o.name: flat[o.key] for o in space.objectives},
        items=final.items,
        generations=final.generations,
        eval_seconds=final.seconds,
    )
    kept = sorted(result.best_checkpoints or [], key=lambda cm: cm[1].get("step", 0))
    kept = kept[-ev.noise_checkpoints :] if ev.noise_checkpoints >= 2 else []
    if len(kept) >= 2:
        tasks = objective_tasks(space, suite)
        for checkpoint, metrics in kept:
            part = scores_at(checkpoint, ev.noise_limit, tasks) if tasks else EvalScores()
            out.eval_seconds += part.seconds
            values = {**flatten(part, suite), **heldout_bpb(metrics, per_token)}
            for o in space.objectives:
                if o.key in values:
                    out.noise.setdefault(o.key, []).append(values[o.key])
    return out
