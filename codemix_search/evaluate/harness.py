"""Score a trained model with lm-eval (``simple_evaluate`` over a suite's task YAMLs)."""

from __future__ import annotations

import logging
import os
import tempfile
import time

from codemix_search.core.records import EvalScores
from codemix_search.core.suites import Suite
from codemix_search.evaluate.tasks import write_task_yamls

log = logging.getLogger(__name__)


def evaluate(
    model,
    tokenizer,
    suite: Suite,
    eval_dir: str | None,
    limit: int,
    batch_size: int = 16,
    device: str = "cpu",
    tasks: list[str] | None = None,
    generative_prompts: str | None = None,
    task_limits: dict[str, int] | None = None,
    log_samples: bool = True,
) -> EvalScores:
    """The suite's tasks (or ``tasks``) scored: per task and metric, the judged tasks'
    generations and every task's per-item values (core/records.EvalScores).
    ``limit`` bounds the items of every task; ``task_limits`` overrides it per task (lm-eval
    takes one limit per call, so tasks are evaluated in one call per distinct limit)."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="codemix-tasks-") as yaml_dir:
        names = write_task_yamls(suite, eval_dir, yaml_dir, generative_prompts)
        names = [n for n in names if tasks is None or n in tasks]
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
        # Our YAMLs plus, for the paper suite, the installed registry (no download until a
        # task's data is actually read).
        manager = TaskManager(include_path=yaml_dir, include_defaults=not suite.local)
        groups: dict[int, list[str]] = {}
        for name in names:
            groups.setdefault(int((task_limits or {}).get(name, limit)), []).append(name)
        out = {"results": {}, "samples": {}}
        for group_limit, group in sorted(groups.items()):
            part = lm_eval.simple_evaluate(
                model=lm,
                tasks=group,
                task_manager=manager,
                limit=group_limit,
                # Per-item scores (paired standard errors between trials) and generations.
                log_samples=log_samples or any(t.generations for t in suite.tasks),
                random_seed=0,
                numpy_random_seed=0,
                torch_random_seed=0,
                fewshot_random_seed=0,
            )
            out["results"].update(part["results"])
            out["samples"].update(part.get("samples") or {})
    scores: dict = {}
    for task, metrics in out["results"].items():
        scores[task] = {
            k.split(",")[0]: float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and "stderr" not in k
        }
    generations = {}
    for spec in suite.tasks:
        samples = (out.get("samples") or {}).get(spec.name)
        if spec.generations and samples:
            generations[spec.name] = [
                {
                    "prompt": s["doc"].get("prompt", ""),
                    "reference": s["doc"].get("reference", ""),
                    "generation": (s.get("filtered_resps") or s.get("resps") or [""])[0]
                    if not isinstance((s.get("filtered_resps") or [""])[0], list)
                    else s["filtered_resps"][0][0],
                }
                for s in samples
            ]
    items = {t: item_values(samples) for t, samples in out["samples"].items()}
    return EvalScores(scores, generations, items, time.time() - t0)


def item_values(samples: list[dict]) -> dict[str, list]:
    """Per-item values of a task's continuous and accuracy metrics, in document order."""
    samples = sorted(samples, key=lambda s: s["doc_id"])
    out: dict[str, list] = {}
    for name in samples[0].get("metrics", []) if samples else []:
        values = []
        for s in samples:
            v = s.get(name)
            if name == "gold_bpb":
                v = [float(v[0]), int(v[1])]
            elif name == "brier_score":
                gold, probs = v
                v = sum((p - (i == gold)) ** 2 for i, p in enumerate(probs))
            elif not isinstance(v, (int, float)):
                continue
            values.append(v)
        if len(values) == len(samples):
            out[name] = values
    return out
