"""The offline ``demo`` suite: eval items made from held-out documents, as lm-eval task YAMLs.

Tasks, by the paper's categories (multiple-choice ones scored by log-likelihood, so a tiny model
separates from chance):
- NL reasoning, ``demo_nl_reasoning``: which continuation ends a held-out docstring sentence (the
  true one, the same words shuffled, or another sentence's ending);
- world knowledge, ``demo_world_knowledge`` / ``demo_world_regions``: a country's capital / region,
  asked as a question (facts the knowledge text states, in a phrasing it never uses);
- code, ``demo_code``: which line comes next in held-out standard-library code; and
  ``demo_code_pass1``: greedy completion of held-out verified problems (HumanEval and generated),
  executed against their tests in the sandbox;
- generative, ``demo_generative``: how likely the model finds the true continuation of a held-out
  passage (per-character geometric-mean likelihood, in (0, 1]: the absolute score the search
  optimises, robust even for models too small to write well); ``demo_generative_samples``: the
  model's own greedy continuations of the same prompts (chrF against the truth, kept for the
  judged win-rate against the baseline after the search, codemix_search/evaluate/judge.py).

Items come from the eval pools only (see codemix_search/demo/), never from training text;
their texts are also used to drop any training document that shares a 13-gram with one.
"""

from __future__ import annotations

import json
import os
import random
import re

import yaml

from codemix_search.core.bpb import metric_list
from codemix_search.demo.corpora import country_facts

SUITE_VERSION = 5  # 5: gold BPB + Brier on every task, demo_code_bpb
ITEMS_SEED = 4  # the items' shuffle: unchanged since version 4
MC_TASKS = ("demo_nl_reasoning", "demo_world_knowledge", "demo_world_regions", "demo_code")
GEN_TASKS = ("demo_code_pass1", "demo_generative_samples")
TASKS = (*MC_TASKS, "demo_generative", "demo_code_bpb", *GEN_TASKS)
DATA_FILE = {"demo_code_bpb": "demo_code_pass1"}
"""Tasks that score another task's items (the file name without .jsonl)."""
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


def _fact_questions(
    rng: random.Random, facts: list[dict], key: str, pool: list[str], question: str
) -> list[dict]:
    """One multiple-choice question per country: the true ``key`` value and 3 wrong ones."""
    items = []
    for f in facts:
        wrong = rng.sample([x for x in pool if x != f[key]], min(3, len(pool) - 1))
        items.append(_mc(question.format(name=f["name"]), [f[key], *wrong], rng))
    rng.shuffle(items)
    return items[:MAX_ITEMS]


def knowledge_items(rng: random.Random) -> list[dict]:

    facts = country_facts()
    pool = [f["capital"] for f in facts]
    return _fact_questions(
        rng, facts, "capital", pool, "Question: What is the capital of {name}?\nAnswer:"
    )


def region_items(rng: random.Random) -> list[dict]:

    facts = [f for f in country_facts() if f["region"]]
    pool = sorted({f["region"] for f in facts})
    return _fact_questions(
        rng, facts, "region", pool, "Question: On which continent or region is {name}?\nAnswer:"
    )


def pass1_items(problems: list[dict]) -> list[dict]:
    """Held-out verified problems: the model completes the body; the tests decide."""
    return [
        {
            "prompt": p["prompt"],
            "solution": p["solution"],
            "tests": p["tests"],
            "entry_point": p["entry_point"],
            "id": p.get("id", ""),
        }
        for p in problems[:MAX_ITEMS]
    ]


def generative_items(docs: list[str], rng: random.Random) -> list[dict]:
    """Continue a held-out passage: the first ~24 words are the prompt, the next ~24 the
    reference."""
    items = []
    for d in docs:
        words = d.split()
        if len(words) >= 40:
            items.append({"prompt": " ".join(words[:24]), "reference": " ".join(words[24:48])})
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


def write_items(
    pools: dict[str, list[str]], out_dir: str, problems: list[dict] | None = None
) -> tuple[dict, list[str]]:
    """Write one jsonl per task from the eval pools (``problems``: held-out verified code
    problems); return a report and the texts a model should not have read, for n-gram
    decontamination of training data. World-knowledge items are left out on purpose: their facts
    are meant to be learned (from differently phrased text)."""
    rng = random.Random(ITEMS_SEED)
    tasks = {
        "demo_nl_reasoning": nl_items(pools["text"], rng),
        "demo_world_knowledge": knowledge_items(rng),
        "demo_world_regions": region_items(rng),
        "demo_code": code_items(pools["code"], rng),
        "demo_code_pass1": pass1_items(problems or []),
        "demo_generative": generative_items(pools["text"], rng),
    }
    tasks["demo_generative_samples"] = tasks["demo_generative"]
    os.makedirs(out_dir, exist_ok=True)
    report, texts = {}, []
    for task, items in tasks.items():
        if not items:
            raise ValueError(f"demo suite: no items for {task}; the eval pool is too small")
        with open(os.path.join(out_dir, f"{task}.jsonl"), "w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        report[task] = {"items": len(items)}
        if task in ("demo_nl_reasoning", "demo_code"):
            texts += [it["context"].rstrip() + " " + it["choices"][it["label"]] for it in items]
        elif task == "demo_code_pass1":
            texts += [it["prompt"] for it in items]
        elif task == "demo_generative":  # (the samples task has the same items)
            texts += [it["prompt"] + " " + it["reference"] for it in items]
    return report, texts


def data_file(eval_dir: str, task: str) -> str:
    name = f"{DATA_FILE.get(task, task)}.jsonl"
    if "://" in eval_dir:  # a run's task folder on object storage (datasets reads it via fsspec)
        return f"{eval_dir.rstrip('/')}/{name}"
    return os.path.abspath(os.path.join(eval_dir, name))


def _data_files(eval_dir: str, task: str) -> dict:
    return {"data_files": {"test": data_file(eval_dir, task)}}


def write_task_yamls(eval_dir: str, out_dir: str) -> list[str]:
    """lm-eval task YAMLs over the local jsonl files (absolute paths: lm-eval needs them). Every
    task scores through a ``process_results`` function of the metrics shim that
    evaluate/scorers.py writes next to them (gold BPB, Brier, sandboxed pass@1, chrF)."""
    os.makedirs(out_dir, exist_ok=True)
    mc = {
        "doc_to_text": "{{context}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{label}}",
    }
    for task in MC_TASKS:
        _task_yaml(
            eval_dir, out_dir, task, "multiple_choice", mc,
            metric_list("acc", "acc_norm", "brier_score", "gold_bpb"), "demo_multiple_choice",
        )  # fmt: skip
    _task_yaml(
        eval_dir, out_dir, "demo_generative", "loglikelihood",
        {"doc_to_text": "{{prompt}}", "doc_to_target": " {{reference}}"},
        metric_list("continuation_likelihood", "gold_bpb"), "demo_continuation",
    )  # fmt: skip
    _task_yaml(
        eval_dir, out_dir, "demo_code_bpb", "loglikelihood",  # the pass@1 problems' solutions
        {"doc_to_text": "{{prompt}}", "doc_to_target": "{{solution}}"},
        metric_list("gold_bpb"), "demo_code_reference",
    )  # fmt: skip
    generation = {
        "demo_code_pass1": (
            {"until": ["\ndef ", "\nclass ", "\nif __name__", "\nprint("], "max_gen_toks": 96},
            "demo_pass_at_1",
            "pass@1",
        ),
        "demo_generative_samples": (
            # Tiny greedy LMs loop on one token ("\n\n\n..."): no repeated bigrams.
            {"until": ["<|endoftext|>"], "max_gen_toks": 40, "no_repeat_ngram_size": 2},
            "demo_generative_samples",
            "chrf",
        ),
    }
    for task, (gen, fn, metric) in generation.items():
        fields = {
            "doc_to_text": "{{prompt}}",
            "doc_to_target": "",
            "generation_kwargs": {**gen, "do_sample": False},
        }
        metrics = [{"metric": metric, "aggregation": "mean", "higher_is_better": True}]
        _task_yaml(eval_dir, out_dir, task, "generate_until", fields, metrics, fn)
    return list(TASKS)


def _task_yaml(eval_dir, out_dir, task, output_type, fields, metrics, function) -> None:

    spec = {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": _data_files(eval_dir, task),
        "test_split": "test",
        "output_type": output_type,
        **fields,
        "metric_list": metrics,
        "metadata": {"version": SUITE_VERSION},
    }
    body = yaml.safe_dump(spec, sort_keys=False)
    # lm-eval's `!function` tag (safe_dump cannot write it): loaded from codemix_metrics.py.
    body += f"process_results: !function codemix_metrics.{function}\n"
    with open(os.path.join(out_dir, f"{task}.yaml"), "w") as f:
        f.write(body)
