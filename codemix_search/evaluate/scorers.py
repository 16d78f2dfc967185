"""Per-document scorers that lm-eval task YAMLs call through ``process_results`` (pure Python).

- ``chrf``: character n-gram F-score (Popović 2015, n = 1..6, beta = 2) of a generation against a
  reference: the offline reference-based quality used by the demo's generative samples and judge;
- ``demo_continuation``: how likely the model finds a passage's true continuation;
- ``pass_at_1``: runs prompt + completion + tests in the sandbox (codemix_search/sandbox.py: own
  process group, time and memory limits, no network, temporary dir, no writes outside it, no
  process spawning); a hostile completion scores 0 and harms nothing.

lm-eval loads ``!function`` targets from a ``.py`` file next to the task YAML, so
``write_shim`` drops a two-line module there that re-exports these functions.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter

from codemix_search.core import bpb
from codemix_search.sandbox import SandboxLimits, run_python

CODE_LIMITS = SandboxLimits(timeout_s=5, memory_mb=512)
STOP_SEQUENCES = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]


def _ngrams(text: str, n: int) -> Counter:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """chrF in [0, 1] over whitespace-collapsed text (0 when either side is empty)."""
    hyp, ref = " ".join(hypothesis.split()), " ".join(reference.split())
    if not hyp or not ref:
        return 0.0
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        if not h or not r:
            continue
        overlap = sum((h & r).values())
        precisions.append(overlap / sum(h.values()))
        recalls.append(overlap / sum(r.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p + r == 0:
        return 0.0
    return (1 + beta**2) * p * r / (beta**2 * p + r)


def truncate_completion(text: str) -> str:
    """Cut a code completion at the first top-level stop sequence (as HumanEval does)."""
    cut = len(text)
    for stop in STOP_SEQUENCES:
        i = text.find(stop)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def run_tests(program: str, limits: SandboxLimits = CODE_LIMITS) -> float:
    return 1.0 if run_python(program, limits).status == "passed" else 0.0


# -- process_results functions (called by lm-eval per document) ----------------------------------
def _check_program(prompt: str, completion: str, tests: str, entry_point: str) -> float:
    """HumanEval-style: prompt + completion (cut at the next top-level block) + tests + check."""
    program = prompt + truncate_completion(completion) + "\n\n" + tests
    return run_tests(program + f"\n\ncheck({entry_point})\n")


def demo_pass_at_1(doc: dict, results: list[str]) -> dict:
    """Demo code task: the held-out problem's prompt + the model's completion + its tests."""
    return {"pass@1": _check_program(doc["prompt"], results[0], doc["tests"], doc["entry_point"])}


def demo_generative_samples(doc: dict, results: list[str]) -> dict:
    return {"chrf": chrf(results[0], doc["reference"])}


def demo_continuation(doc: dict, results: list) -> dict:
    """Per-character geometric-mean likelihood of the true continuation, exp(ll / chars), in
    (0, 1]: 1 means certain; a uniform guess over a 2k vocabulary at ~3 chars/token is ~0.08."""
    ll = results[0][0]
    gold = bpb.reference(doc["prompt"], " " + doc["reference"], results)["gold_bpb"]
    return {
        "continuation_likelihood": math.exp(ll / max(1, len(doc["reference"]) + 1)),
        "gold_bpb": gold,
    }


def demo_multiple_choice(doc: dict, results: list) -> dict:
    """A demo multiple-choice item ({context, choices, label}): accuracy, Brier, gold BPB."""
    return bpb.multiple_choice(doc["context"], doc["choices"], doc["label"], results)


def demo_code_reference(doc: dict, results: list) -> dict:
    """A held-out verified problem: BPB of its reference solution after the prompt."""
    return {"gold_bpb": bpb.reference(doc["prompt"], doc["solution"], results)["gold_bpb"]}


def humaneval_pass_at_1(doc: dict, results: list[str]) -> dict:
    """lm-eval's humaneval documents (prompt, test, entry_point), executed in our sandbox."""
    return {"pass@1": _check_program(doc["prompt"], results[0], doc["test"], doc["entry_point"])}


def mbpp_pass_at_1(doc: dict, results: list[str]) -> dict:
    """lm-eval's mbpp documents (code in ```...```, test_list of asserts), sandboxed."""
    text = results[0]
    match = re.search(r"```(?:python)?\n(.*?)(```|$)", text, re.S)
    code = match.group(1) if match else text
    setup = doc.get("test_setup_code") or ""
    program = code + "\n\n" + setup + "\n" + "\n".join(doc["test_list"]) + "\n"
    return {"pass_at_1": run_tests(program)}


SHIM = """# Generated by codemix_search: lm-eval loads !function targets from a file next to the YAML.
from codemix_search.evaluate.scorers import (  # noqa: F401
    demo_code_reference,
    demo_continuation,
    demo_multiple_choice,
    demo_generative_samples,
    demo_pass_at_1,
    humaneval_pass_at_1,
    mbpp_pass_at_1,
)
"""


def write_shim(yaml_dir: str) -> str:

    path = os.path.join(yaml_dir, "codemix_metrics.py")
    with open(path, "w") as f:
        f.write(SHIM)
    return path
