"""`ray job submit --working-dir . -- python codemix_search/run.py ...` against a real head node.

The head runs on loopback with its own temp dir and ports, in its own process group, and is ended
by that group's id (never `ray stop`, which would end every Ray process on the machine).
"""

import glob
import json
import os
import re
import subprocess
import urllib.request

import pytest
import yaml

from tests.helpers import REPO
from tests.integration.ray_head import RAY_BIN, ray_head, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head():
    args = [
        "--num-cpus=2",
        # Trial drivers hold this slot instead of a CPU (see codemix_search/core/plan.py).
        '--resources={"trial_driver": 2}',
    ]
    with ray_head(args) as h:
        HEAD.update(h)
        yield h["url"], h["env"]


HEAD: dict = {}


def test_address_check_knows_a_real_gcs_from_a_web_server(head):
    """--address is probed before Ray waits a minute on it: the head's GCS passes, its
    dashboard (an HTTP server on the same machine) is named as one."""
    from codemix_search.cluster import check_address
    from codemix_search.errors import ConfigError

    check_address(HEAD["address"])  # gRPC answers with an HTTP/2 frame
    with pytest.raises(ConfigError, match="web server"):
        check_address(HEAD["url"].removeprefix("http://"))


def test_job_submit_runs_the_tiny_search(head, tmp_path):
    url, env = head
    storage = tmp_path / "storage"
    cmd = [
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
        "training.init=scratch",  # no base to train first: ~30 s; bases on a cluster: head loss
    ]
    submit = None

    def scrape() -> str:
        """What Prometheus would scrape: each node's metrics endpoint (the head's SD file)."""
        text = ""
        with urllib.request.urlopen(url + "/api/prometheus/sd", timeout=30) as r:
            for group in json.load(r):
                for target in group["targets"]:
                    with urllib.request.urlopen(f"http://{target}/metrics", timeout=30) as m:
                        text += m.read().decode()
        return text

    def submitted() -> bool:
        # The head's job agent registers a little after the dashboard answers (seconds; longer
        # on a loaded machine); until then Ray answers "No available agent to submit job,
        # please try again later", and nothing was submitted.
        nonlocal submit
        submit = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )  # fmt: skip
        return submit.returncode == 0 or "No available agent" not in submit.stderr

    wait_until(submitted, timeout=180, interval=2)
    assert submit.returncode == 0, submit.stdout + submit.stderr
    job_id = re.search(r"raysubmit_[A-Za-z0-9]+", submit.stdout).group(0)
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(url)
    ended = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)
    # The training workers' per-trial gauges are scraped while they live, as Prometheus does
    # every few seconds: Ray drops a process's gauges some time after it exits, so after the
    # job they may be gone (seen once in four runs).
    live: set[str] = set()

    def job_ended():
        live.update(re.findall(r'^ray_codemix_tokens_total\{[^}]*trial="([^"]+)"', scrape(), re.M))
        return (st := client.get_job_status(job_id)) in ended and st

    status = wait_until(job_ended, timeout=900, interval=2)
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
    text = scrape()
    finished = re.search(r'^ray_codemix_trials\{[^}]*status="finished"[^}]*\} (\S+)$', text, re.M)
    assert finished and float(finished.group(1)) == counts["finished"]
    assert live and live <= set(trials), (live, trials)
