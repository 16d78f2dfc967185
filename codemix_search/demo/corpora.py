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
import difflib
import os
import subprocess
import sysconfig
from collections.abc import Iterator

from codemix_search.data.readers import git_documents


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
        # imported here, not at the top: demo data only; optional in some Pythons
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
    # imported here, not at the top: demo data only
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


def _docstring_commits(cap: int) -> list[str]:
    """Fallback when no repository has history (e.g. a working dir uploaded without .git):
    commit-shaped documents 'Document <function>' whose diff adds the function's docstring."""
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
