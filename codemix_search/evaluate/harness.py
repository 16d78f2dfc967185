"""Score a trained model with lm-eval (``simple_evaluate`` over local task YAMLs)."""

from __future__ import annotations

import logging
import os
import tempfile
import time

from codemix_search.evaluate import demo_suite

log = logging.getLogger(__name__)


def evaluate(
    model,
    tokenizer,
    eval_dir: str,
    tasks: list[str],
    limit: int,
    batch_size: int = 16,
    device: str = "cpu",
) -> dict:
    """{task: {metric: value}} for the given tasks, plus ``_eval_seconds``."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="codemix-tasks-") as yaml_dir:
        demo_suite.write_task_yamls(eval_dir, yaml_dir)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=TaskManager(include_path=yaml_dir, include_defaults=False),
            limit=limit,
            log_samples=False,
            random_seed=0,
            numpy_random_seed=0,
            torch_random_seed=0,
            fewshot_random_seed=0,
        )
    scores = {}
    for task, metrics in out["results"].items():
        scores[task] = {
            k.split(",")[0]: float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and "stderr" not in k
        }
    scores["_eval_seconds"] = time.time() - t0
    return scores
