"""The early-stopping metric built from the objectives themselves (``early_stopping.metric:
objectives``).

ASHA compares one scalar per rung. The mean validation loss over sources (each source equal)
falls with the share of code when most sources are code, so stopping on it favours code whatever
the objectives say (a demo run stopped the text-only baseline and every text-initialised trial).
Here the rung scalar is the mean, over the BPB objectives, of each one's gold bits-per-byte on a
fixed subset of its eval items (the same items and the same scoring rule as the final lm-eval
scores, core/bpb.py), so a rung ranks trials the way the objectives will.

``rung_pairs`` (driver side) picks the (context, continuation) strings; the training loop scores
them (train/rung_scoring.py) at every report.
"""

from __future__ import annotations

import json

from codemix_search.core.bpb import DELIMITER
from codemix_search.core.suites import Suite
from codemix_search.demo.eval_items import data_file

RUNG_ITEMS = 32
"""Items per task at each rung: ~200 short forward passes per report for a 5-objective space."""


def _task_pairs(task: str, eval_dir: str, n: int) -> list[tuple[str, str]]:
    """(context, continuation) of the first ``n`` items of a local task, as lm-eval scores the
    gold answer: multiple choice ``context + delimiter + gold``; references after the prompt."""
    path = data_file(eval_dir, task)
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if len(pairs) >= n:
                break
            doc = json.loads(line)
            if "choices" in doc:
                pairs.append((doc["context"], DELIMITER + doc["choices"][doc["label"]]))
            elif "solution" in doc:
                pairs.append((doc["prompt"], doc["solution"]))
            elif "reference" in doc:
                pairs.append((doc["prompt"], " " + doc["reference"]))
    return pairs


def rung_pairs(
    objectives, suite: Suite, eval_dir: str, n: int = RUNG_ITEMS
) -> dict[str, list[tuple[str, str]]]:
    """{objective name: its items' (context, continuation)} for every BPB objective."""
    out = {}
    for o in objectives:
        if o.metric != "bpb":
            continue
        tasks = [o.task] if o.task else [t.name for t in suite.tasks_for(o.category, "bpb")]
        out[o.name] = [p for t in tasks for p in _task_pairs(t, eval_dir, n)]
    return out
