"""Bad input, as a user types it: every case runs the real CLI in its own process and must give
exit code 2, exactly one line on stderr (``error: <file or flag>: <field>: <fix>``), no
traceback, and leave no file behind.

Cases cover search spaces, source declarations, recipes given to replay/export, CLI flags and
storage URIs: syntax errors, wrong types, out-of-range and inverted ranges, weights that cannot
sum to 1, unknown sources or samplers, empty and binary files, YAML tags that would run code,
unreachable URIs, and paths with spaces and unicode.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from tests.helpers import REPO

TINY = yaml.safe_load(open(os.path.join(REPO, "search_spaces", "tiny.yaml")))


def space(**changes) -> str:
    """tiny.yaml with sections changed (``None`` deletes a field)."""
    out = json.loads(json.dumps(TINY))
    for dotted, value in changes.items():
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return yaml.safe_dump(out, sort_keys=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


GOOD_VERIFY = json.dumps({"prompt": "", "solution": "x = 1", "tests": "assert x == 1"}) + "\n"
GOOD_DOC = json.dumps({"text": "def f():\n    return 1\n" * 5}) + "\n"


BOMB = "name: tiny\nparameters:\n  code_fraction: {type: fixed, value: &a [x, x, x, x, x, x, x, x, x]}\n"
BOMB += "".join(
    f"  p{c}: {{type: fixed, value: &{c} [{', '.join([f'*{p}'] * 9)}]}}\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


RUN_FILES = {
    "runs/r/space.yaml": space(),
    "runs/r/records.jsonl": "",
    "runs/r/run.json": json.dumps({"name": "r", "layout": 2, "data": {"uri": "nowhere"}}),
}


def sources(*entries: dict) -> str:
    return yaml.safe_dump({"sources": list(entries)}, sort_keys=False)


# (id, files to create {name: text or bytes}, argv (``{d}`` = the case's folder), what the line
# must name)
CASES = [
    # --- search spaces (run --dry-run: loads and checks the space, starts nothing) ---
    (
        "space-yaml-syntax",
        {"s.yaml": "name: [unclosed\n"},
        ["run", "--space", "{d}/s.yaml"],
        "s.yaml",
    ),
    ("space-empty-file", {"s.yaml": ""}, ["run", "--space", "{d}/s.yaml"], "s.yaml"),
    (
        "space-binary-file",
        {"s.yaml": b"\x00\xff\x89PNG\x00\x01"},
        ["run", "--space", "{d}/s.yaml"],
        "s.yaml",
    ),
    ("space-not-a-mapping", {"s.yaml": "- a\n- b\n"}, ["run", "--space", "{d}/s.yaml"], "s.yaml"),
    # Bounded YAML (core/yaml_bounds.py): an alias bomb (9^9 values once expanded) inside a
    # parameter's value, nesting deep enough to overflow a recursive reader, a nested value
    # where a parameter takes a scalar, and a deeply nested override.
    ("space-alias-bomb", {"s.yaml": BOMB}, ["run", "--space", "{d}/s.yaml"], "aliases"),
    (
        "space-deep-nesting",
        {"s.yaml": "name: " + "[" * 5000 + "]" * 5000 + "\n"},
        ["run", "--space", "{d}/s.yaml"],
        "nested deeper",
    ),  # fmt: skip
    (
        "space-nested-fixed-value",
        {"s.yaml": space(**{"parameters.commit_share": {"type": "fixed", "value": {"a": [1]}}})},
        ["run", "--space", "{d}/s.yaml"],
        "parameters.commit_share.value",
    ),
    (
        "override-deep-nesting",
        {},
        [
            "run",
            "--space",
            f"{REPO}/search_spaces/tiny.yaml",
            "training.lr=" + "[" * 100 + "]" * 100,
        ],
        "nested deeper",
    ),
    (
        "space-python-tag",
        {"s.yaml": "name: !!python/object/apply:os.system ['touch {d}/PWNED']\n"},
        ["run", "--space", "{d}/s.yaml"],
        "s.yaml",
    ),
    (
        "space-unknown-field",
        {"s.yaml": space(trainig={})},
        ["run", "--space", "{d}/s.yaml"],
        "trainig",
    ),
    (
        "space-wrong-type",
        {"s.yaml": space(**{"budget.samples": "many"})},
        ["run", "--space", "{d}/s.yaml"],
        "budget.samples",
    ),
    (
        "space-out-of-range",
        {"s.yaml": space(**{"training.cooldown_share": 1.5})},
        ["run", "--space", "{d}/s.yaml"],
        "training.cooldown_share",
    ),
    (
        "space-inverted-range",
        {
            "s.yaml": space(
                **{"parameters.code_fraction": {"type": "float", "low": 0.8, "high": 0.2}}
            )
        },
        ["run", "--space", "{d}/s.yaml"],
        "code_fraction",
    ),
    (
        "space-shares-cannot-sum-to-1",
        {"s.yaml": space(**{"parameters.synthetic_share": 0.8, "parameters.commit_share": 0.7})},
        ["run", "--space", "{d}/s.yaml"],
        "share",
    ),
    (
        "space-unknown-sampler",
        {"s.yaml": space(sampler="bogus")},
        ["run", "--space", "{d}/s.yaml"],
        "sampler",
    ),
    (
        "space-unknown-scheduler",
        {"s.yaml": space(**{"early_stopping.scheduler": "pbt2"})},
        ["run", "--space", "{d}/s.yaml"],
        "early_stopping.scheduler",
    ),
    (
        "space-unknown-category",
        {"s.yaml": space(objectives=[{"name": "x", "category": "vibes", "mode": "max"}])},
        ["run", "--space", "{d}/s.yaml"],
        "objectives",
    ),
    (
        "space-unknown-model",
        {"s.yaml": space(**{"training.model": "gpt-9"})},
        ["run", "--space", "{d}/s.yaml"],
        "training.model",
    ),
    (
        "space-missing-sources-file",
        {"s.yaml": space(data={"sources": "nowhere.yaml"})},
        ["run", "--space", "{d}/s.yaml"],
        "nowhere.yaml",
    ),
    (
        "space-path-with-spaces-and-unicode",
        {"my späce ✓.yaml": space(**{"budget.concurrency": 0})},
        ["run", "--space", "{d}/my späce ✓.yaml"],
        "my späce ✓.yaml",
    ),
    ("space-missing-file", {}, ["run", "--space", "{d}/absent.yaml"], "absent.yaml"),
    # --- overrides and flags ---
    (
        "override-without-equals",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "budget.samples"],
        "budget.samples",
    ),
    (
        "override-unknown-key",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "budget.nope=1"],
        "budget.nope",
    ),
    ("flag-no-space", {}, ["run", "--storage", "{d}/runs"], "--space"),
    (
        "flag-bad-name",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "{d}/runs", "--name", "../x"],
        "--name",
    ),
    ("flag-resume-without-name", {}, ["run", "--resume", "--storage", "{d}/runs"], "--resume"),
    (
        "flag-unknown",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--frobnicate"],
        "--frobnicate",
    ),
    (
        "flag-bad-number",
        {},
        ["data", "verify", "x.jsonl", "--out", "{d}/o", "--timeout-s", "soon"],
        "--timeout-s",
    ),
    (
        "storage-unknown-protocol",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "nosuch://bucket/runs"],
        "nosuch://",
    ),
    # --- values plausible alone that used to fail after Ray started (or hang) ---
    (
        "space-seed-past-rng-range",
        {"s.yaml": space(seed=2**64)},
        ["run", "--space", "{d}/s.yaml"],
        "seed",
    ),
    (
        "space-grace-past-last-rung",
        {"s.yaml": space(**{"early_stopping.grace_period": 50})},
        ["run", "--space", "{d}/s.yaml"],
        "early_stopping.grace_period",
    ),
    (
        "space-init-folder-missing",
        {"s.yaml": space(**{"training.init": "{d}/no-such-model"})},
        ["run", "--space", "{d}/s.yaml"],
        "training.init",
    ),
    (
        "flag-name-too-long",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "{d}/runs", "--name", "a" * 300],
        "--name",
    ),
    (
        "storage-empty",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", ""],
        "--storage",
    ),
    (
        "storage-is-a-file",
        {"afile": "x"},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "{d}/afile"],
        "is a file",
    ),
    (
        "storage-ray-cannot-write",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "memory://runs"],
        "memory://",
    ),
    (
        "storage-sqlite-url-characters",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "{d}/runs#1"],
        "'#'",
    ),
    (
        "storage-not-writable",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "/proc/codemix-runs"],
        "not writable",
    ),
    (
        "address-nothing-listens",
        {},
        [
            "run",
            "--space",
            "search_spaces/tiny.yaml",
            "--storage",
            "{d}/runs",
            "--address",
            "127.0.0.1:{port}",
        ],
        "nothing answers",
    ),
    (
        "address-http",
        {},
        [
            "run",
            "--space",
            "search_spaces/tiny.yaml",
            "--storage",
            "{d}/runs",
            "--address",
            "http://127.0.0.1:8265",
        ],
        "HTTP address",
    ),
    (
        "address-not-host-port",
        {},
        ["run", "--space", "search_spaces/tiny.yaml", "--storage", "{d}/runs", "--address", "x y"],
        "host:port",
    ),
    (
        "verify-timeout-nan",
        {"g.jsonl": GOOD_VERIFY},
        ["data", "verify", "{d}/g.jsonl", "--out", "{d}/o", "--timeout-s", "nan"],
        "--timeout-s",
    ),
    (
        "verify-binary-input",
        {"g.jsonl": bytes(range(256)) * 4},
        ["data", "verify", "{d}/g.jsonl", "--out", "{d}/o"],
        "not UTF-8",
    ),
    (
        "verify-out-not-writable",
        {"g.jsonl": GOOD_VERIFY, "afile": "x"},
        ["data", "verify", "{d}/g.jsonl", "--out", "{d}/afile/o"],
        "--out",
    ),
    # --- source declarations (data build: checks every source before building anything) ---
    (
        "sources-missing-uri",
        {"src.yaml": sources({"name": "a", "kind": "code"})},
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources.a",
    ),
    (
        "sources-glob-matches-nothing",
        {"src.yaml": sources({"name": "a", "kind": "code", "uri": "nothing/*.jsonl"})},
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources.a",
    ),
    (
        "sources-not-json",
        {
            "a.jsonl": GOOD_DOC + "this is not json\n",
            "src.yaml": sources({"name": "a", "kind": "code", "uri": "a.jsonl"}),
        },
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "a.jsonl:2",
    ),
    (
        "sources-duplicate-names",
        {
            "a.jsonl": GOOD_DOC,
            "src.yaml": sources(
                {"name": "a", "kind": "code", "uri": "a.jsonl"},
                {"name": "a", "kind": "text", "uri": "a.jsonl"},
            ),
        },
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources",
    ),
    (
        "sources-negative-weight",
        {
            "a.jsonl": GOOD_DOC,
            "src.yaml": sources({"name": "a", "kind": "code", "uri": "a.jsonl", "weight": -1}),
        },
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources.a.weight",
    ),
    (
        "sources-credentials-in-file",
        {
            "a.jsonl": GOOD_DOC,
            "src.yaml": sources(
                {
                    "name": "a",
                    "kind": "code",
                    "uri": "a.jsonl",
                    "storage_options": {"secret": "AKIAFAKE"},
                }
            ),
        },
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "storage_options",
    ),
    (
        "sources-unreachable-uri",
        {
            "src.yaml": sources(
                {"name": "a", "kind": "code", "uri": "http://127.0.0.1:{port}/a.jsonl"}
            )
        },
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources.a",
    ),
    # --- recipes and runs given to replay / export ---
    ("replay-missing-recipe", {}, ["replay", "{d}/runs/r/recipes/t.yaml"], "t.yaml"),
    (
        "replay-not-a-recipe",
        {"runs/r/recipes/t.yaml": "- just\n- a list\n"},
        ["replay", "{d}/runs/r/recipes/t.yaml"],
        "t.yaml",
    ),
    ("export-not-a-run", {"empty/keep.txt": "x"}, ["export", "{d}/empty"], "space.yaml"),
    # --- damaged state: named in one line (a truncated copy, an edit) ---
    (
        "export-damaged-space",
        {"runs/r/space.yaml": "name: [tiny\n", "runs/r/records.jsonl": "", "runs/r/run.json": "{}"},
        ["export", "{d}/runs/r"],
        "space.yaml: damaged",
    ),
    (
        "export-damaged-records",
        {"runs/r/space.yaml": space(), "runs/r/records.jsonl": '{"trial', "runs/r/run.json": "{}"},
        ["export", "{d}/runs/r"],
        "records.jsonl",
    ),
    (
        "resume-damaged-space",
        {"runs/r/space.yaml": "name: [tiny\n"},
        ["run", "--resume", "--name", "r", "--storage", "{d}/runs"],
        "space.yaml",
    ),
    # --- numbers checked everywhere (NaN, inf, sign, range) and keys given twice ---
    (
        "space-duplicate-key",
        {"s.yaml": space() + "seed: 7\n"},  # tiny.yaml already has a seed
        ["run", "--space", "{d}/s.yaml", "--storage", "{d}/runs"],
        "'seed' is given twice",
    ),
    (
        "space-nan-reference-point",
        {"s.yaml": space(**{"ranking.reference_point": {"nl_reasoning": float("nan")}})},
        ["run", "--space", "{d}/s.yaml", "--storage", "{d}/runs"],
        "ranking.reference_point",
    ),
    (
        "space-negative-grad-clip",
        {"s.yaml": space(**{"training.grad_clip": -1.0})},
        ["run", "--space", "{d}/s.yaml", "--storage", "{d}/runs"],
        "training.grad_clip",
    ),
    (
        "space-negative-weight-decay",
        {"s.yaml": space(**{"training.weight_decay": -0.1})},
        ["run", "--space", "{d}/s.yaml", "--storage", "{d}/runs"],
        "training.weight_decay",
    ),
    (
        "sources-infinite-weight",
        {
            "a.jsonl": GOOD_DOC,
            "src.yaml": sources(
                {"name": "a", "kind": "code", "uri": "a.jsonl", "weight": float("inf")}
            ),
        },  # fmt: skip
        ["data", "build", "--sources", "{d}/src.yaml", "--storage", "{d}/st", "--engine", "local"],
        "sources.a.weight",
    ),
    ("plan-negative-gpus", {}, ["plan", "--space", "{d}/x.yaml", "--gpus", "-4"], "--gpus"),
    ("replay-nan-tolerance", {}, ["replay", "{d}/r.yaml", "--tolerance", "nan"], "--tolerance"),
    ("predict-no-candidates", {}, ["predict", "{d}/run", "--candidates", "0"], "--candidates"),
    (
        "predict-unbounded-candidates",
        {},
        ["predict", "{d}/run", "--candidates", "100000000"],
        "--candidates",
    ),
    ("demo-vocab-too-small", {}, ["data", "demo", "--vocab-size", "1"], "--vocab-size"),
    ("demo-repo-missing", {}, ["data", "demo", "--repo", "{d}/no-such-repo"], "--repo"),
    # --- every subcommand checks its paths before its work ---
    (
        "export-paths-is-a-folder",
        {**RUN_FILES, "p/keep.txt": "x"},
        ["export", "{d}/runs/r", "--paths", "{d}/p"],
        "a folder, not a file",
    ),
    (
        "export-out-is-a-file",
        {**RUN_FILES, "afile": "x"},
        ["export", "{d}/runs/r", "--format", "megatron", "--out", "{d}/afile"],
        "--out",
    ),
    (
        "data-build-label-leaves-its-folder",
        {
            "a.jsonl": GOOD_DOC,
            "src.yaml": sources({"name": "a", "kind": "code", "uri": "a.jsonl"}),
        },
        [
            "data",
            "build",
            "--sources",
            "{d}/src.yaml",
            "--label",
            "../..",
            "--storage",
            "{d}/st",
            "--engine",
            "local",
        ],
        "--label",
    ),  # fmt: skip
    (
        "resume-would-drop-overrides",
        {"runs/r/space.yaml": space()},
        ["run", "--resume", "--name", "r", "--storage", "{d}/runs", "budget.samples=6"],
        "budget.samples=6 would not apply",
    ),
    (
        "resume-would-drop-space",
        {"runs/r/space.yaml": space()},
        ["run", "--resume", "--name", "r", "--storage", "{d}/runs", "--space", "{d}/x.yaml"],
        "would not apply",
    ),
]


def _materialise(d: str, files: dict) -> None:
    for name, content in files.items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = content if isinstance(content, bytes) else content.replace("{d}", d)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())


def _tree(d: str) -> set[str]:
    return {os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs} | {
        os.path.relpath(os.path.join(r, x), d) + "/" for r, xs, _ in os.walk(d) for x in xs
    }


@pytest.mark.parametrize("case,files,argv,names", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, case, files, argv, names):
    d = str(tmp_path / "case dir ü")  # every case also runs from a path with a space and unicode
    os.makedirs(d)
    port = closed_port()
    files = {
        k: (v.replace("{port}", str(port)) if isinstance(v, str) else v) for k, v in files.items()
    }
    _materialise(d, files)
    before = _tree(d)
    args = [a.replace("{d}", d).replace("{port}", str(port)) for a in argv]
    if args[0] == "run" and not any(a in args for a in ("--resume",)):
        args.append("--dry-run")  # never start a search: the input must be refused first
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", *args],
        cwd=REPO,
        env={**os.environ, "CODEMIX_STORAGE_RETRY_S": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = out.stderr.strip()
    assert out.returncode == 2, (out.returncode, err[-2000:], out.stdout[-500:])
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    assert names.replace("{d}", d) in lines[0], (names, lines[0])
    assert _tree(d) == before, sorted(_tree(d) - before)  # nothing written, nothing executed


def test_s3_storage_without_credentials_is_one_line_even_for_a_dry_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance role to ask for
    }
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", "run", "--space", "search_spaces/tiny.yaml",
         "--storage", "s3://codemix-no-such-bucket/runs", "--dry-run"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-1000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "credentials" in lines[0] and "--storage" in lines[0], lines
