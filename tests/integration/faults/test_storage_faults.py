"""Storage faults with real processes and a real S3 server (moto) on loopback.

- The S3 endpoint goes away mid-run (a proxy in front of it refuses and cuts connections) and
  comes back: writes retry with backoff and land whole; nothing partial is ever visible.
- It never comes back: one clear line (naming the URI and --resume), no partial object.
- The disk fills up (a real per-process file-size limit, RLIMIT_FSIZE, on the CLI): one clear
  line, exit 2, no partial or temp file.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import urllib.parse
import uuid

import pytest

from codemix_search.errors import StorageError
from codemix_search.storage.folder import Folder
from tests.helpers import REPO, make_bucket
from tests.integration.faults.proxy import FlakyProxy


@pytest.fixture()
def flaky_s3(s3_endpoint, monkeypatch):
    """s3fs pointed at a proxy in front of the moto server; yields (proxy, bucket URI)."""
    import fsspec.config
    import s3fs

    bucket = make_bucket(f"flaky-{uuid.uuid4().hex[:12]}")
    parsed = urllib.parse.urlparse(s3_endpoint.url)
    proxy = FlakyProxy((parsed.hostname, parsed.port))
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": proxy.url})
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    s3fs.S3FileSystem.clear_instance_cache()
    yield proxy, bucket
    proxy.down()
    s3fs.S3FileSystem.clear_instance_cache()


def objects(folder: Folder) -> list[str]:
    return sorted(p.rsplit("/", 1)[-1] for p in folder.fs.find(folder.path))


def test_writes_survive_an_outage_and_land_whole(flaky_s3, monkeypatch):
    proxy, bucket = flaky_s3
    monkeypatch.setenv("CODEMIX_STORAGE_RETRY_S", "60")
    run = Folder(f"{bucket}/run")
    run.write_json("space.json", {"before": True})
    proxy.down()
    # The server is back 3 s into the outage; the write started while it was down.
    threading.Timer(3.0, proxy.up).start()
    recipe = {"mixture": {"code": 0.25, "text": 0.75}, "notes": "x" * 100_000}
    run.child("recipes").write_json("t1.json", recipe)
    assert run.child("recipes").read_json("t1.json") == recipe
    assert objects(run) == ["space.json", "t1.json"]  # no temp objects left behind


def test_an_endpoint_that_never_returns_is_one_line_and_leaves_nothing(flaky_s3, monkeypatch):
    proxy, bucket = flaky_s3
    monkeypatch.setenv("CODEMIX_STORAGE_RETRY_S", "3")
    run = Folder(f"{bucket}/run")
    run.write_json("space.json", {"before": True})
    proxy.down()
    with pytest.raises(StorageError) as err:
        run.child("recipes").write_json("t1.json", {"mixture": {}})
    line = err.value.one_line()
    assert "\n" not in line and run.child("recipes").uri in line
    assert "unreachable" in line and "--resume" in line
    proxy.up()
    assert objects(run) == ["space.json"]  # neither the recipe nor a temp object


def test_the_cli_says_the_endpoint_is_unreachable_in_one_line(flaky_s3, tmp_path):
    proxy, bucket = flaky_s3
    src = tmp_path / "gen.jsonl"
    src.write_text(
        json.dumps(
            {"prompt": "def f():\n", "solution": "    return 1\n", "tests": "assert f() == 1\n"}
        )
        + "\n"
    )
    proxy.down()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "codemix_search",
            "data",
            "verify",
            str(src),
            "--out",
            f"{bucket}/v",
        ],
        cwd=REPO,
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url, "CODEMIX_STORAGE_RETRY_S": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stderr[-2000:]  # a storage fault, not bad input: exit 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unreachable" in lines[0]
    assert "Traceback" not in out.stderr


def _limit_file_size(limit: int):
    def apply():
        # A real kernel limit: writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored, as a
        # full disk fails them with ENOSPC); both are "no space" to the storage layer.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path):
    src = tmp_path / "gen.jsonl"
    body = "    return 1\n" + "    # padding\n" * 200  # ~3 KB of solution per record
    src.write_text(
        "".join(
            json.dumps(
                {"id": i, "prompt": "def f():\n", "solution": body, "tests": "assert f() == 1\n"}
            )
            + "\n"
            for i in range(8)
        )
    )
    out_dir = tmp_path / "verified"
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", "data", "verify", str(src), "--out", str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size(8 * 1024),
    )
    assert out.returncode == 1, out.stderr[-2000:]  # a storage fault, not bad input: exit 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left" in lines[0] and str(out_dir) in lines[0], lines
    assert "Traceback" not in out.stderr
    left = sorted(os.listdir(out_dir)) if out_dir.exists() else []
    assert left == [], left  # no partial verified.jsonl, no temp file, no _SUCCESS
