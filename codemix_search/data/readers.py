"""Reading declared sources through fsspec (plain Python, no Ray): list a source's files, read
them as documents, fingerprint them. The schema of a sources file is config/sources.py.

Formats: ``jsonl`` (one JSON object per line, ``field`` holds the text; ``.gz``/``.zst`` by
extension), ``parquet`` (column ``field``), ``text`` (each file is one document) and ``git`` (a
local repository; one document per commit and file: message, then that file's diff). A URI is a
file, a folder (all its files with the format's extensions) or a glob. Files are checked once,
before any work (``check_source``): existence and first record.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import fsspec

from codemix_search.config.sources import FORMATS, SourceSpec
from codemix_search.errors import ConfigError


# -- reading -----------------------------------------------------------------------------------
def _fs(spec: SourceSpec):

    fs, _, _ = fsspec.get_fs_token_paths(spec.uri, storage_options=spec.storage_options)
    return fs


def _full(fs, path: str) -> str:
    return fs.unstrip_protocol(path) if fs.protocol not in ("file", ("file", "local")) else path


def list_files(spec: SourceSpec, file: str = "<sources>") -> list[str]:
    """The files a source reads, sorted (for git: the repository itself)."""
    where = f"sources.{spec.name}.uri"
    if spec.format == "git":
        repo = spec.uri.removeprefix("file://")
        if not os.path.isdir(os.path.join(repo, ".git")) and not os.path.isfile(
            os.path.join(repo, "HEAD")
        ):
            raise ConfigError(file, where, f"{repo} is not a git repository; give a clone's path")
        return [repo]
    try:
        return _list_files(spec, file, where)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - unreachable host, denied bucket, bad URL: one line
        raise ConfigError(
            file,
            where,
            f"cannot read {spec.uri} ({e.__class__.__name__}: {str(e).splitlines()[0][:200]}); "
            "check the URI, the network and the credentials",
        ) from None


def _list_files(spec: SourceSpec, file: str, where: str) -> list[str]:
    fs = _fs(spec)
    # fsspec's own notion of the path (HTTP keeps its whole URL, s3 drops the protocol).
    path = type(fs)._strip_protocol(spec.uri)
    if any(c in path for c in "*?["):
        found = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        found = [
            p
            for p in fs.find(path)
            if p.lower().endswith(FORMATS[spec.format])
            and not os.path.basename(p).startswith((".", "_"))
        ]
    elif fs.exists(path):
        found = [path]
    else:
        raise ConfigError(file, where, f"{spec.uri} does not exist; fix the path or create it")
    if not found:
        raise ConfigError(
            file,
            where,
            f"no {spec.format} files ({', '.join(FORMATS[spec.format])}) match {spec.uri}",
        )
    return sorted(_full(fs, p) for p in found)


def fingerprint(spec: SourceSpec, files: list[str]) -> list:
    """What identifies the source's bytes without reading them: size + mtime/ETag per file, or
    the repository's HEAD. A rebuild happens exactly when this (or the config) changes."""
    if spec.format == "git":
        head = subprocess.run(
            ["git", "-C", files[0], "rev-parse", "HEAD"], capture_output=True, timeout=30
        ).stdout.decode()
        return [files[0], head.strip()]
    fs = _fs(spec)
    out = []
    for p in files:
        info = fs.info(p)
        stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified") or ""
        out.append([p, info.get("size"), str(stamp)])
    return out


def read_file(spec: SourceSpec, path: str, file: str = "<sources>") -> Iterator[str]:
    """Documents of one file of a source (non-empty strings); a malformed record is an error
    that names the file and line."""
    where = f"sources.{spec.name}"
    if spec.format == "git":
        yield from git_documents(path, spec.max_commits)
        return
    if spec.format == "parquet":
        # imported here, not at the top: pyarrow: only for Parquet and Ray Data blocks
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb", **spec.storage_options) as f:
            pf = pq.ParquetFile(f)
            if spec.field not in pf.schema_arrow.names:
                raise ConfigError(
                    file,
                    f"{where}.field",
                    f"{path} has no column {spec.field!r} (has: {', '.join(pf.schema_arrow.names)})",
                )
            for batch in pf.iter_batches(columns=[spec.field], batch_size=1024):
                for value in batch.column(0).to_pylist():
                    if isinstance(value, str) and value.strip():
                        yield value
        return
    with fsspec.open(
        path, "rt", encoding="utf-8", errors="replace", compression="infer", **spec.storage_options
    ) as f:
        if spec.format == "text":
            text = f.read()
            if text.strip():
                yield text
            return
        for lineno, record in jsonl_records(f, path, file, where):
            value = record.get(spec.field) if isinstance(record, dict) else None
            if not isinstance(value, str):
                raise ConfigError(
                    file,
                    f"{where}.field",
                    f"{path}:{lineno} has no text field {spec.field!r}; set field to the key holding the text",
                )
            if value.strip():
                yield value


def jsonl_records(lines, path: str, file: str, where: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) of each non-blank line; a line that is not JSON is a
    one-line error naming ``path:line``."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError:
            raise ConfigError(
                file, where, f"{path}:{lineno} is not valid JSON; fix or remove that line"
            ) from None


def iter_documents(spec: SourceSpec, file: str = "<sources>") -> Iterator[str]:
    n = 0
    for path in list_files(spec, file):
        for doc in read_file(spec, path, file):
            yield doc
            n += 1
            if spec.max_documents and n >= spec.max_documents:
                return


def check_source(spec: SourceSpec, file: str = "<sources>") -> list[str]:
    """Fail early, with one line, on a missing URI, an unreadable first record or an empty
    source; return its files."""
    files = list_files(spec, file)
    for path in files:
        for _ in read_file(spec, path, file):
            return files
    raise ConfigError(
        file, f"sources.{spec.name}.uri", f"{spec.uri} holds no documents; point it at data"
    )


def git_documents(repo: str, max_commits: int) -> list[str]:
    """``git log -p`` of a local repository: one document per (commit, file): the commit
    message, then that file's diff (capped at 6,000 characters; huge generated diffs add little)."""
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
                f"-n{max_commits}",
                "--format=%x00commit %H%n%n%B",
            ],
            capture_output=True,
            timeout=120,
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
