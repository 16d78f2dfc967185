"""Verified synthetic code: keep a teacher's problem/solution pairs only when their tests pass.

The paper's synthetic code is "formally verified": a generated solution enters the corpus only if
it passes its tests. Point this at a jsonl of generated records and get the verified subset (ready
to be a ``synthetic_code`` source: its ``text`` field is prompt + solution) and a report::

    python -m codemix_search data verify generated.jsonl --out s3://bucket/verified/ --workers 8

A record has ``prompt``, ``solution`` and ``tests`` (HumanEval's ``canonical_solution`` and
``test`` are accepted too) and optionally ``entry_point`` (then ``check(<entry_point>)`` is called
after the tests, HumanEval style) and ``id``. Every program runs in the sandbox
(codemix_search/sandbox.py): own process group, wall-clock and CPU limits, memory cap, no network,
a temporary working dir, no writes outside it, no process spawning; as ``nobody`` when run as root.
Outcomes: passed, failed (an exception / failing assert), timeout, crashed (killed by a signal or
out of memory). Output files appear atomically, ``_SUCCESS`` last.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import fsspec

from codemix_search.data.readers import jsonl_records
from codemix_search.errors import ConfigError
from codemix_search.sandbox import SandboxLimits, error_kind, run_python
from codemix_search.storage.folder import Folder

ALIASES = {"solution": ("solution", "canonical_solution"), "tests": ("tests", "test")}
STATUSES = ("passed", "failed", "timeout", "crashed")


def normalise(record, where: str) -> dict:
    """A record with prompt/solution/tests (aliases resolved); one-line error otherwise."""
    if not isinstance(record, dict):
        raise ConfigError(where, "", "each line must be a JSON object")
    out = {"prompt": record.get("prompt", "")}
    for name, keys in ALIASES.items():
        value = next((record[k] for k in keys if k in record), None)
        if not isinstance(value, str):
            raise ConfigError(
                where, name, f"missing or not a string; give {' or '.join(keys)} per record"
            )
        out[name] = value
    if not isinstance(out["prompt"], str):
        raise ConfigError(where, "prompt", "must be a string")
    out["entry_point"] = record.get("entry_point")
    out["id"] = str(record.get("id", record.get("task_id", "")))
    return out


def program(record: dict) -> str:
    """The program the sandbox runs: prompt + solution, then the tests (+ check call)."""
    src = record["prompt"] + record["solution"] + "\n\n" + record["tests"] + "\n"
    if record.get("entry_point") and "def check(" in record["tests"]:
        src += f"\ncheck({record['entry_point']})\n"
    return src


def document(record: dict) -> str:
    """What trains: the problem statement and its verified solution."""
    return record["prompt"] + record["solution"]


def verify_records(
    records: Iterable[dict], limits: SandboxLimits = SandboxLimits(), workers: int = 2
) -> tuple[list[dict], list[dict]]:
    """Run every record; return (verified records with a ``text`` field, per-record outcomes)."""
    records = list(records)

    def one(rec: dict) -> dict:
        t0 = time.time()
        res = run_python(program(rec), limits)
        return {
            "id": rec["id"],
            "status": res.status,
            "seconds": round(time.time() - t0, 3),
            # the exception's class or the exit status: never the program's words (report.json)
            "error": error_kind(res.stderr, res.returncode) if not res.passed else "",
        }

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(one, records))
    verified = [
        {**rec, "text": document(rec)}
        for rec, out in zip(records, outcomes, strict=True)
        if out["status"] == "passed"
    ]
    return verified, outcomes


def summarise(outcomes: list[dict]) -> dict:
    counts = Counter(o["status"] for o in outcomes)
    return {"records": len(outcomes), **{s: counts.get(s, 0) for s in STATUSES}}


def read_records(uri: str) -> list[dict]:

    out = []
    try:
        with fsspec.open(uri, "rt", encoding="utf-8", compression="infer") as f:
            for lineno, raw in jsonl_records(f, uri, uri, ""):
                out.append(normalise(raw, f"{uri}:{lineno}"))
    except FileNotFoundError:
        raise ConfigError(uri, "", "file not found; pass a jsonl of generated records") from None
    except UnicodeDecodeError:
        raise ConfigError(
            uri, "", "not UTF-8 text (a binary file?); pass a jsonl of generated records"
        ) from None
    except (IsADirectoryError, NotADirectoryError, PermissionError, ValueError) as e:
        raise ConfigError(
            uri, "", f"cannot read ({type(e).__name__}); pass a jsonl of generated records"
        ) from None
    if not out:
        raise ConfigError(uri, "", "no records; pass a jsonl with prompt/solution/tests lines")
    for i, rec in enumerate(out):
        rec["id"] = rec["id"] or str(i)
    return out


def verify_file(
    in_uri: str, out_uri: str, limits: SandboxLimits = SandboxLimits(), workers: int = 2
) -> dict:
    """``<out>/verified.jsonl`` (only passing records), ``<out>/report.json``, ``_SUCCESS``."""
    records = read_records(in_uri)
    t0 = time.time()
    verified, outcomes = verify_records(records, limits, workers)
    report = {
        "input": in_uri,
        **summarise(outcomes),
        "seconds": round(time.time() - t0, 1),
        "limits": {"timeout_s": limits.timeout_s, "memory_mb": limits.memory_mb},
        "outcomes": outcomes,
    }
    out = Folder(out_uri)
    out.write_text("verified.jsonl", "".join(json.dumps(r) + "\n" for r in verified))
    out.write_json("report.json", report)
    out.mark_success({k: report[k] for k in ("records", *STATUSES)})
    return report
