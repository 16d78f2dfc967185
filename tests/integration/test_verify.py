"""Synthetic-code verification as a feature: hostile teacher output cannot harm the run."""

import json
import os
import subprocess
import sys

import pytest

from codemix_search.data.verify import read_records, verify_file
from codemix_search.errors import ConfigError
from codemix_search.sandbox import SandboxLimits
from tests.helpers import REPO

PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


def record(i, solution, **extra):
    return {
        "id": i,
        "prompt": PROMPT,
        "solution": solution,
        "tests": TESTS,
        "entry_point": "add",
        **extra,
    }


def hostile(victim: str) -> list[dict]:
    body = "    return a + b\n"
    return [
        record("good", body),
        record("wrong", "    return a - b\n"),
        record("loop", "    while True:\n        pass\n"),
        record("fork", "    import os\n    while True:\n        os.fork()\n"),
        record("alloc", "    x = bytearray(8 * 1024**3)\n    return a + b\n"),
        record(
            "net", "    import socket\n    socket.create_connection(('127.0.0.1', 22))\n" + body
        ),
        record("write", f"    open({victim!r}, 'w').write('owned')\n" + body),
        record("delete", f"    import os\n    os.remove({victim!r})\n" + body),
        record("spawn", f"    import subprocess\n    subprocess.run(['rm', {victim!r}])\n" + body),
        # HumanEval's field names are accepted as well.
        {
            "task_id": "he",
            "prompt": PROMPT,
            "canonical_solution": body,
            "test": TESTS,
            "entry_point": "add",
        },
    ]


def test_hostile_solutions_are_contained_and_reported(tmp_path):
    victim = tmp_path / "user_file.txt"
    victim.write_text("precious")
    src = tmp_path / "gen.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in hostile(str(victim))))
    report = verify_file(
        str(src), str(tmp_path / "out"), SandboxLimits(timeout_s=3, memory_mb=256), workers=2
    )
    status = {o["id"]: o["status"] for o in report["outcomes"]}
    assert status["good"] == "passed" and status["he"] == "passed"
    assert status["wrong"] == "failed"
    assert status["loop"] == "timeout"
    for bad in ("fork", "alloc", "net", "write", "delete", "spawn"):
        assert status[bad] != "passed", bad
    assert victim.read_text() == "precious"  # the user's file is untouched
    assert report["passed"] == 2 and report["records"] == 10
    assert report["passed"] + report["failed"] + report["timeout"] + report["crashed"] == 10
    kept = [json.loads(line) for line in open(tmp_path / "out" / "verified.jsonl")]
    assert [r["id"] for r in kept] == ["good", "he"]
    assert kept[0]["text"] == PROMPT + "    return a + b\n"
    assert (tmp_path / "out" / "_SUCCESS").exists()


@pytest.mark.parametrize(
    "line,message",
    [
        ("not json", "not valid JSON"),
        (json.dumps({"prompt": "x", "tests": "t"}), "solution"),
        (json.dumps({"prompt": "x", "solution": "y"}), "tests"),
        (json.dumps([1, 2]), "JSON object"),
    ],
)
def test_bad_records_name_the_line(tmp_path, line, message):
    src = tmp_path / "gen.jsonl"
    src.write_text(json.dumps(record("ok", "    return a + b\n")) + "\n" + line + "\n")
    with pytest.raises(ConfigError) as e:
        read_records(str(src))
    assert "gen.jsonl:2" in e.value.one_line() and message in e.value.one_line()


def test_cli_verify_and_missing_input(tmp_path):
    src = tmp_path / "gen.jsonl"
    src.write_text(
        json.dumps(record("a", "    return a + b\n"))
        + "\n"
        + json.dumps(record("b", "    return 0\n"))
        + "\n"
    )
    cmd = [sys.executable, "-m", "codemix_search", "data", "verify", "--workers", "1"]
    r = subprocess.run(
        [*cmd, str(src), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "2 records: 1 passed, 1 failed" in r.stdout
    r = subprocess.run(
        [*cmd, str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "p")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
    assert not os.path.exists(tmp_path / "p")
