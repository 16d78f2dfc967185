"""`ray job submit --working-dir . -- python codemix_search/run.py ...` against a real head node.

The head runs on loopback with its own temp dir and ports, in its own process group, and is ended
by that group's id (never `ray stop`, which would end every Ray process on the machine).
"""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow
RAY_BIN = os.path.join(os.path.dirname(sys.executable), "ray")  # the venv's, beside this Python


def wait_until(check, timeout: float, interval: float):
    """Poll ``check()`` until it returns a truthy value or ``timeout`` passes; return its last value."""
    deadline = time.time() + timeout
    value = check()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = check()
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    temp = tempfile.mkdtemp(prefix="cm-head-", dir="/tmp")
    port, dash = free_port(), free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    proc = subprocess.Popen(
        [
            RAY_BIN,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--dashboard-port={dash}",
            "--dashboard-host=127.0.0.1",
            f"--temp-dir={temp}",
            "--num-cpus=2",
            # Trial drivers hold this slot instead of a CPU (see codemix_search/plan.py).
            '--resources={"trial_driver": 2}',
            "--include-dashboard=true",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{dash}"

    def up() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        try:
            with urllib.request.urlopen(url + "/api/version", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    if not wait_until(up, timeout=120, interval=0.5):
        pytest.fail("ray head did not come up in 120 s")
    yield url, env
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    subprocess.run(["rm", "-rf", temp], check=False)


def test_job_submit_runs_the_tiny_search(head, tmp_path):
    url, env = head
    storage = tmp_path / "storage"
    submit = subprocess.run(
        [
            RAY_BIN,
            "job",
            "submit",
            "--address",
            url,
            "--working-dir",
            ".",
            "--no-wait",
            "--",
            "python",
            "codemix_search/run.py",
            "--space",
            "search_spaces/tiny.yaml",
            "--storage",
            str(storage),
            "--name",
            "job",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert submit.returncode == 0, submit.stdout + submit.stderr
    job_id = re.search(r"raysubmit_[A-Za-z0-9]+", submit.stdout).group(0)
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(url)
    ended = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)
    status = wait_until(
        lambda: (st := client.get_job_status(job_id)) in ended and st, timeout=900, interval=2
    )
    status = status or client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs[-4000:]
    run = storage / "job"
    assert (run / "_SUCCESS").exists() and (run / "recipes" / "_SUCCESS").exists()
    recipes = [yaml.safe_load(open(p)) for p in glob.glob(str(run / "recipes" / "*.yaml"))]
    assert recipes and all(
        abs(sum(r["phases"]["pretrain"]["weights"].values()) - 1) < 1e-5 for r in recipes
    )
    counts = json.loads((run / "_SUCCESS").read_text())
    assert counts["records"] == 4 and counts["error"] == 0
    assert "recipes in" in logs

    # The Ray dashboard shows the job, each trial's Train run and our metrics (HTTP API).
    def get(path):
        with urllib.request.urlopen(url + path, timeout=30) as r:
            return json.load(r)

    job = get(f"/api/jobs/{job_id}")
    assert job["status"] == "SUCCEEDED" and "codemix_search/run.py" in job["entrypoint"]
    trials = sorted(os.listdir(run / "trials"))
    assert len(trials) == 4
    runs = get("/api/train/v2/runs/v1")["train_runs"]  # Ray Train V2's state, the Train tab
    by_name = {r["name"]: r for r in runs}
    assert {f"train-{t}" for t in trials} <= set(by_name), sorted(by_name)
    assert all(by_name[f"train-{t}"]["job_id"] == job["job_id"] for t in trials)
    # Trials that trained to the end show FINISHED; ASHA-stopped ones were ended early.
    statuses = [by_name[f"train-{t}"]["status"] for t in trials]
    assert statuses.count("FINISHED") >= counts["finished"] >= 1, statuses
    sd = get("/api/prometheus/sd")  # what Prometheus would scrape: each node's metrics endpoint
    text = ""
    for group in sd:
        for target in group["targets"]:
            with urllib.request.urlopen(f"http://{target}/metrics", timeout=30) as r:
                text += r.read().decode()
    finished = re.search(r'^ray_codemix_trials\{[^}]*status="finished"[^}]*\} (\S+)$', text, re.M)
    assert finished and float(finished.group(1)) == counts["finished"]
    labelled = set(re.findall(r'^ray_codemix_tokens_total\{[^}]*trial="([^"]+)"', text, re.M))
    assert labelled and labelled <= set(trials), (labelled, trials)
