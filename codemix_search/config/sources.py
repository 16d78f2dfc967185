"""The schema of a sources file: named sources, each with a kind, a URI and a format.

A sources file says where a team's corpora are and what each one is::

    # sources.yaml
    tokenizer: {vocab_size: 8192}          # trained on the train splits; or {uri: <tokenizer dir>}
    validation_share: 0.02                 # documents held out per source, chosen by hash
    sources:
      - {name: web, kind: text, uri: "s3://corpus/web/*.jsonl.gz", format: jsonl, field: text}
      - {name: papers, kind: hq_text, uri: /data/papers/, format: parquet, field: body,
         phases: [cooldown]}
      - {name: github, kind: code, uri: "s3://corpus/code/*.parquet", format: parquet, field: content}
      - {name: verified, kind: synthetic_code, uri: memory://verified.jsonl, format: jsonl}
      - {name: history, kind: commits, uri: ., format: git, max_commits: 5000}

Kinds place a source in the mixture (core/mixture.py): ``code`` and ``markup`` are web code,
``synthetic_code`` and ``commits`` have their own shares, every other kind (``text``, ``hq_text``,
or a team's own, e.g. ``math``) is text. ``weight`` splits a group between its sources. Reading
the files is data/readers.py's job; here only the YAML's fields are checked, each problem one line
naming the file, the source and the fix.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields

import fsspec
import yaml

from codemix_search.core.yaml_bounds import load_bounded
from codemix_search.errors import ConfigError

FORMATS = {
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".ndjson"),
    "parquet": (".parquet",),
    "text": (".txt", ".md", ".rst", ".py", ".html", ".tex", ".text"),
    "git": (),
}


BUILTIN_KINDS = ("text", "hq_text", "code", "markup", "synthetic_code", "commits")


PHASES = ("pretrain", "cooldown")


@dataclass(frozen=True)
class SourceSpec:
    """One named corpus."""

    name: str
    """Identifier used in mixtures, manifests and recipes ([a-z0-9_], e.g. ``web_text``)."""
    kind: str
    """text | hq_text | code | markup | synthetic_code | commits, or a user-defined text kind."""
    uri: str
    """fsspec URI: file, folder or glob (local, s3://, memory://); for git a local repository."""
    format: str = "jsonl"
    """jsonl | parquet | text | git."""
    field: str = "text"
    """The text field (jsonl) or column (parquet)."""
    weight: float = 1.0
    """Relative weight inside its mixture group (web code, text, ...)."""
    phases: tuple[str, ...] = PHASES
    """Phases this source may be drawn in (e.g. [cooldown] for high-quality text)."""
    max_documents: int | None = None
    """Read at most this many documents (None = all)."""
    max_commits: int = 1000
    """git only: commits read from the repository."""
    storage_options: dict = dataclasses.field(default_factory=dict)
    """fsspec options for this URI (e.g. endpoint_url); never secrets: use the environment."""

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.islower():
            raise ValueError("name: use lower-case letters, digits and '_'")
        if not self.kind or not self.kind.replace("_", "").isalnum():
            raise ValueError(f"kind: {self.kind!r}: use letters, digits and '_'")
        if self.format not in FORMATS:
            raise ValueError(f"format: {self.format!r} is unknown; allowed: {', '.join(FORMATS)}")
        if not isinstance(self.uri, str) or not self.uri.strip():
            raise ValueError("uri: give a file, folder or glob (local path, s3://, memory://)")
        if not (
            isinstance(self.weight, (int, float))
            and not isinstance(self.weight, bool)
            and 0 < self.weight < float("inf")
        ):
            raise ValueError(f"weight: must be a positive number, got {self.weight!r}")
        if not self.phases or set(self.phases) - set(PHASES):
            raise ValueError(f"phases: must be a non-empty subset of {list(PHASES)}")
        if self.max_documents is not None and self.max_documents < 1:
            raise ValueError("max_documents: must be >= 1 (or left out for all)")
        if self.format == "git" and "://" in self.uri and not self.uri.startswith("file://"):
            raise ValueError("a git source must be a local repository path (clone it first)")
        if any(k.lower() in ("key", "secret", "token", "password") for k in self.storage_options):
            raise ValueError(
                "storage_options: must not hold credentials: set AWS_* variables instead"
            )

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["phases"] = list(self.phases)
        return d


@dataclass(frozen=True)
class SourcesConfig:
    """Every source of one dataset, plus how it is split and tokenized."""

    sources: tuple[SourceSpec, ...]
    vocab_size: int = 2048
    """BPE vocabulary trained on the train splits (ignored when tokenizer_uri is set)."""
    tokenizer_uri: str | None = None
    """A saved transformers tokenizer folder to use instead of training one."""
    validation_share: float = 0.05
    """Share of each source's documents held out for validation (chosen by document hash)."""
    eval_items: str | None = None
    """Folder of eval items shipped with the dataset (the demo suite's jsonl files)."""
    decontaminate: str | None = None
    """jsonl of eval texts: training documents sharing a 13-word n-gram with one are dropped."""
    file: str = "<sources>"

    def __post_init__(self):
        if not self.sources:
            raise ValueError("sources: declare at least one source")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"sources: duplicate names {dup}")
        if not 256 <= self.vocab_size <= 1 << 20:
            raise ValueError("tokenizer.vocab_size must be in [256, 1048576]")
        if not 0.0 < self.validation_share < 0.5:
            raise ValueError("validation_share must be in (0, 0.5)")

    def by_name(self) -> dict[str, SourceSpec]:
        return {s.name: s for s in self.sources}

    def to_dict(self) -> dict:
        return {
            "tokenizer": {"vocab_size": self.vocab_size, "uri": self.tokenizer_uri},
            "validation_share": self.validation_share,
            "eval_items": self.eval_items,
            "decontaminate": self.decontaminate,
            "sources": [s.to_dict() for s in self.sources],
        }


def _resolve(uri: str, base_dir: str) -> str:
    if "://" in uri or os.path.isabs(uri) or uri.startswith("~"):
        return os.path.expanduser(uri)
    return os.path.normpath(os.path.join(base_dir, uri))


def parse_sources(raw, file: str, base_dir: str | None = None) -> SourcesConfig:
    """Validate a sources mapping (from YAML); relative URIs are relative to ``base_dir``."""
    base_dir = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(file))
    if not isinstance(raw, dict):
        raise ConfigError(file, "", "must be a mapping with a 'sources' list")
    unknown = set(raw) - {"sources", "tokenizer", "validation_share", "eval_items", "decontaminate"}
    if unknown:
        raise ConfigError(
            file,
            sorted(unknown)[0],
            "unknown field; allowed: sources, tokenizer, validation_share, eval_items, decontaminate",
        )
    items = raw.get("sources")
    if not isinstance(items, list) or not items:
        raise ConfigError(file, "sources", "give a non-empty list of sources")
    known = {f.name for f in fields(SourceSpec)}
    specs = []
    for i, item in enumerate(items):
        where = f"sources[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(file, where, "each source is a mapping with name, kind, uri")
        where = f"sources.{item.get('name', i)}"
        bad = sorted(set(item) - known)
        if bad:
            raise ConfigError(
                file, f"{where}.{bad[0]}", f"unknown field; allowed: {', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "kind", "uri") if k not in item]
        if missing:
            raise ConfigError(file, f"{where}.{missing[0]}", "required: name, kind and uri")
        item = dict(item)
        if "phases" in item:
            item["phases"] = tuple(item["phases"]) if isinstance(item["phases"], list) else ()
        if isinstance(item.get("uri"), str):
            item["uri"] = _resolve(item["uri"], base_dir)
        try:
            specs.append(SourceSpec(**item))
        except (ValueError, TypeError) as e:
            # "weight: must be ..." names its field: point at sources.<name>.weight.
            field, sep, rest = str(e).partition(": ")
            if sep and field in {f.name for f in fields(SourceSpec)}:
                raise ConfigError(file, f"{where}.{field}", rest) from None
            raise ConfigError(file, where, str(e)) from None
    tok = raw.get("tokenizer") or {}
    if not isinstance(tok, dict) or set(tok) - {"vocab_size", "uri"}:
        raise ConfigError(file, "tokenizer", "a mapping with vocab_size and/or uri")
    opt = {k: raw[k] for k in ("eval_items", "decontaminate") if raw.get(k)}
    opt = {k: _resolve(v, base_dir) for k, v in opt.items()}
    try:
        return SourcesConfig(
            sources=tuple(specs),
            vocab_size=int(tok.get("vocab_size", 2048)),
            tokenizer_uri=_resolve(tok["uri"], base_dir) if tok.get("uri") else None,
            validation_share=float(raw.get("validation_share", 0.05)),
            file=file,
            **opt,
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(file, "sources", str(e)) from None


def load_sources(uri: str) -> SourcesConfig:
    """Read and validate a sources YAML (any fsspec URI)."""
    try:
        with fsspec.open(uri, "r", encoding="utf-8") as f:
            raw = load_bounded(f.read(), uri)
    except FileNotFoundError:
        raise ConfigError(uri, "", "file not found; check the path") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(uri, "", f"not valid YAML{line}: fix the syntax") from None
    base = os.path.dirname(uri) if "://" in uri else os.path.dirname(os.path.abspath(uri))
    return parse_sources(raw, uri, base)
