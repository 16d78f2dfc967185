"""``build_demo``: the demo corpora as jsonl sources, eval items and a ``sources.yaml`` in a cached
folder, so the demo goes through the same data plane as a team's own corpora (data/build.py).

    python -m codemix_search data demo --preset tiny     # prints the sources.yaml path
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass

import yaml

from codemix_search.config.space import sources_uri
from codemix_search.data.dataset import cache_root
from codemix_search.demo import eval_items
from codemix_search.demo.corpora import (
    code_documents,
    commit_documents,
    knowledge_documents,
    repo_heads,
    text_documents,
)
from codemix_search.demo.problems import synthetic_code_documents
from codemix_search.storage.folder import is_complete_dir
from codemix_search.storage.publish import publish_dir

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


def demo_split(doc: str) -> str:
    """train | val | eval, from the document's hash: stable across runs and machines."""
    h = int.from_bytes(hashlib.sha256(doc.encode("utf-8", "replace")).digest()[:8], "big") / 2**64
    if h < SPLIT_VAL:
        return "val"
    if h < SPLIT_VAL + SPLIT_EVAL:
        return "eval"
    return "train"


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

    ident = {
        "preset": preset,
        "vocab_size": vocab_size,
        "repos": repo_heads(commit_repos),
        "python": sys.version,
        "builder": DEMO_VERSION,
        "suite": eval_items.SUITE_VERSION,
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
    if preset not in PRESETS:
        raise ValueError(f"unknown demo preset {preset!r}; allowed: {', '.join(PRESETS)}")
    key = demo_key(preset, vocab_size, commit_repos)
    final = os.path.join(root or os.path.join(cache_root(), "demo"), key)
    if is_complete_dir(final):
        return os.path.join(final, "sources.yaml")
    with publish_dir(final) as tmp:  # the whole folder appears at once, _SUCCESS in it
        corpora, report, problems = build_corpora(preset, commit_repos)
        pools: dict[str, list[str]] = {}
        for name, docs in corpora.items():
            # Knowledge questions ask about facts the model can learn: its documents all train.
            train = docs if name == "knowledge" else [d for d in docs if demo_split(d) != "eval"]
            pools[name] = (
                [d for d in docs if demo_split(d) == "eval"] if name != "knowledge" else []
            )
            with open(os.path.join(tmp, f"{name}.jsonl"), "w", encoding="utf-8") as f:
                for d in train:
                    f.write(json.dumps({"text": d}) + "\n")
            report["sources"][name].update(
                documents=len(train), chars=sum(map(len, train)), eval_pool=len(pools[name])
            )
        held_out = [problems[d] for d in pools["synthetic_code"] if d in problems]
        items_report, item_texts = eval_items.write_items(
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
            f.write(f"# codemix_search demo data, preset {preset} (made by demo/make_sources.py)\n")
            yaml.safe_dump(spec, f, sort_keys=False)
        with open(os.path.join(tmp, "report.json"), "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
    return os.path.join(final, "sources.yaml")


def space_sources(space) -> tuple[str, str]:
    """(sources file, dataset label) of a space: its own sources file, or the demo preset built
    here (offline, cached) into a sources file like a user's, so the data stage
    (data/build.prepare_space_data) only ever reads sources files."""
    if space.data.sources is not None:
        return sources_uri(space.data, space.source_file), "data"
    preset = space.data.preset
    return build_demo(preset, space.data.vocab_size, space.data.commit_repos), preset
