"""The offline ``demo`` suite: eval items made from held-out documents, as lm-eval task YAMLs.

Tasks (all multiple-choice scored by log-likelihood, so a tiny model separates from chance):
- ``demo_nl_reasoning``: which continuation ends a held-out docstring sentence (the true one, the
  same words shuffled, or another sentence's ending);
- ``demo_world_knowledge``: the capital of a country, as a question (facts the knowledge text
  states, in a phrasing it never uses);
- ``demo_code``: which line comes next in held-out standard-library code.

Items come from the eval pools only (see codemix_search/data/demo.py), never from training text.
"""

from __future__ import annotations

import json
import os
import random
import re

SUITE_VERSION = 2
CATEGORIES = {
    "nl_reasoning": ["demo_nl_reasoning"],
    "world_knowledge": ["demo_world_knowledge"],
    "code": ["demo_code"],
}
TASKS = [t for tasks in CATEGORIES.values() for t in tasks]
MAX_ITEMS = 300


def _shuffled(words: list[str], rng: random.Random) -> list[str]:
    for _ in range(10):
        out = words[:]
        rng.shuffle(out)
        if out != words:
            return out
    return list(reversed(words))


def nl_items(docs: list[str], rng: random.Random) -> list[dict]:
    sentences = []
    for d in docs:
        for s in re.split(r"(?<=[.!?])\s+", " ".join(d.split())):
            words = s.split()
            if 8 <= len(words) <= 30 and s[0].isupper():
                sentences.append(words)
    rng.shuffle(sentences)
    items = []
    for i, words in enumerate(sentences[:MAX_ITEMS]):
        cut = max(3, int(len(words) * 0.6))
        context, ending = words[:cut], words[cut:]
        other = sentences[(i + 1) % len(sentences)]
        other_end = other[max(3, int(len(other) * 0.6)) :]
        choices = [" ".join(ending), " ".join(_shuffled(ending, rng)), " ".join(other_end)]
        items.append(_mc(" ".join(context), choices, rng))
    return items


def knowledge_items(rng: random.Random) -> list[dict]:
    from codemix_search.data.demo import country_facts

    facts = country_facts()
    capitals = [f["capital"] for f in facts]
    items = []
    for f in facts:
        wrong = rng.sample([c for c in capitals if c != f["capital"]], 3)
        items.append(
            _mc(
                f"Question: What is the capital of {f['name']}?\nAnswer:",
                [f["capital"], *wrong],
                rng,
            )
        )
    rng.shuffle(items)
    return items[:MAX_ITEMS]


def code_items(docs: list[str], rng: random.Random) -> list[dict]:
    windows = []
    all_lines = []
    for d in docs:
        lines = [ln for ln in d.splitlines() if ln.strip()]
        all_lines.extend(ln.strip() for ln in lines if len(ln.strip()) > 10)
        for j in range(4, len(lines), 9):
            nxt = lines[j].strip()
            if len(nxt) > 10 and not nxt.startswith("#"):
                windows.append(("\n".join(lines[j - 4 : j]), nxt))
    rng.shuffle(windows)
    items = []
    for context, nxt in windows[:MAX_ITEMS]:
        other = rng.choice(all_lines)
        tokens = re.findall(r"\w+|[^\w\s]", nxt)
        scrambled = " ".join(_shuffled(tokens, rng)) if len(tokens) > 1 else nxt[::-1]
        choices = [nxt, other if other != nxt else nxt + " + 1", scrambled]
        # lm-eval joins context and choice with one space; the newline keeps code layout.
        items.append(_mc(context + "\n", choices, rng))
    return items


def _mc(context: str, choices: list[str], rng: random.Random) -> dict:
    """Shuffle choices (first is correct) and record the label."""
    order = list(range(len(choices)))
    rng.shuffle(order)
    return {"context": context, "choices": [choices[i] for i in order], "label": order.index(0)}


def write_items(pools: dict[str, list[str]], out_dir: str) -> tuple[dict, list[str]]:
    """Write one jsonl per task from the eval pools; return a report and the texts (context +
    answer) of the items a model should not have read, for n-gram decontamination of training
    data. World-knowledge items are left out on purpose: their facts are meant to be learned."""
    rng = random.Random(SUITE_VERSION)
    tasks = {
        "demo_nl_reasoning": nl_items(pools["text"], rng),
        "demo_world_knowledge": knowledge_items(rng),
        "demo_code": code_items(pools["code"], rng),
    }
    os.makedirs(out_dir, exist_ok=True)
    report, texts = {}, []
    for task, items in tasks.items():
        with open(os.path.join(out_dir, f"{task}.jsonl"), "w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        report[task] = {"items": len(items)}
        if task != "demo_world_knowledge":
            texts += [it["context"].rstrip() + " " + it["choices"][it["label"]] for it in items]
    return report, texts


def write_task_yamls(eval_dir: str, out_dir: str) -> list[str]:
    """lm-eval task YAMLs over the local jsonl files (absolute paths: lm-eval needs them)."""
    import yaml

    os.makedirs(out_dir, exist_ok=True)
    for task in TASKS:
        spec = {
            "task": task,
            "dataset_path": "json",
            "dataset_kwargs": {
                "data_files": {"test": os.path.abspath(os.path.join(eval_dir, f"{task}.jsonl"))}
            },
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": "{{context}}",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{label}}",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
            ],
            "metadata": {"version": SUITE_VERSION},
        }
        with open(os.path.join(out_dir, f"{task}.yaml"), "w") as f:
            yaml.safe_dump(spec, f, sort_keys=False)
    return list(TASKS)
