"""End to end: the tiny search on a real embedded Ray cluster, started by run.py as a user would."""

import csv
import glob
import json
import math
import os
import subprocess
import sys

import optuna
import pytest
import yaml

from codemix_search.core.ranking import dominates
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from tests.helpers import REPO, TINY, run_cli, session_temp

pytestmark = pytest.mark.slow
RAY_TMP: list[str] = []  # the tiny run's Ray temp dir (its logs are scanned for secrets)
FAKE_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIACMFAKEKEY7654321",
    "AWS_SECRET_ACCESS_KEY": "cmFakeSecret/0123456789abcdefghijKLMNOPQR",
    "GRAFANA_TOKEN": "glsa_cmFakeGrafanaToken_0123456789",
    "HF_TOKEN": "hf_cmFakeHuggingFaceToken0123456789",
    "OPENAI_API_KEY": "sk-cmFakeOpenAIKey0123456789",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):

    storage = tmp_path_factory.mktemp("storage")
    ray_tmp = session_temp("cm-ray-")  # short: Ray's socket paths
    out = run_cli(
        "--space",
        TINY,
        "--storage",
        str(storage),
        "--name",
        "e2e",
        # A preference on NL reasoning: early stopping keeps the best half at each rung on it
        # (the space alone keeps the Pareto front, which on 4 trials may stop none), and a
        # mostly-text mixture runs before an all-code one, which is then behind it on NL at the
        # first rung: a stop, whatever the sampler draws next.
        "ranking.preference={weights: {nl_reasoning: 1}}",
        "points_to_evaluate=[{code_fraction: 0.05, synthetic_share: 0.1, commit_share: 0.1, "
        "cooldown_code_fraction: 0.0}, {code_fraction: 1.0, synthetic_share: 0.5, "
        "commit_share: 0.5, cooldown_code_fraction: 0.5}]",
        timeout=900,
        # Fake credentials in the environment, as a user's shell would hold them: none may reach
        # any file the run writes (test_no_credentials_in_anything_the_run_wrote).
        env={"CODEMIX_RAY_TEMP_DIR": ray_tmp, **FAKE_SECRETS},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    RAY_TMP.append(ray_tmp)
    return storage / "e2e", out


def test_run_writes_complete_layout(tiny_run):
    run, _ = tiny_run
    for name in ("space.yaml", "records.jsonl", "leaderboard.csv", "_SUCCESS", "recipes/_SUCCESS"):
        assert (run / name).exists(), name
    assert not glob.glob(str(run / "**" / ".tmp-*"), recursive=True)


def test_trials_ran_and_early_stopping_stopped_some(tiny_run):
    run, _ = tiny_run
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert len(records) >= 4
    statuses = [r["status"] for r in records]
    assert statuses.count("finished") >= 1
    assert statuses.count("pruned") >= 1, statuses
    # every stop is in rungs.jsonl with its reason, and only those trials were pruned
    decisions = [json.loads(x) for x in (run / "rungs.jsonl").read_text().splitlines()]
    stopped = {d["trial_id"] for d in decisions if d["stopped"]}
    pruned = {r["trial_id"] for r in records if r["status"] == "pruned"}
    assert stopped == pruned and all("preference" in d["why"] for d in decisions if d["stopped"])
    for r in records:
        if r["status"] == "pruned":
            assert r["objectives"] == {}
            assert r["metrics"].get("evaluated") != 1


def test_recipes_are_exactly_the_non_dominated_finished_trials(tiny_run):
    run, _ = tiny_run
    space = yaml.safe_load((run / "space.yaml").read_text())
    names = [o["name"] for o in space["objectives"]]
    modes = [o["mode"] for o in space["objectives"]]
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    finished = [r for r in records if r["status"] == "finished"]
    vals = {r["trial_id"]: [r["objectives"][n] for n in names] for r in finished}
    expected = {
        t
        for t, v in vals.items()
        if not any(dominates(w, v, modes) for u, w in vals.items() if u != t)
    }
    recipes = {}
    for path in glob.glob(str(run / "recipes" / "*.yaml")):
        rec = yaml.safe_load(open(path))
        recipes[rec["trial_id"]] = rec
    assert set(recipes) == expected and expected
    for rec in recipes.values():
        for phase in ("pretrain", "cooldown"):
            w = rec["phases"][phase]["weights"]
            assert all(v >= 0 for v in w.values())
            assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-5)
        assert rec["objectives"] == dict(zip(names, vals[rec["trial_id"]], strict=True))
        assert rec["provenance"]["data"]["tokenizer_sha256"]


def test_optuna_study_marks_pruned_trials_pruned(tiny_run):
    run, _ = tiny_run
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{run / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert states.count("COMPLETE") == sum(r["status"] == "finished" for r in records)
    assert states.count("PRUNED") == sum(r["status"] == "pruned" for r in records)
    front = {tuple(t.values) for t in study.best_trials}
    recipes = [yaml.safe_load(open(p)) for p in glob.glob(str(run / "recipes" / "*.yaml"))]
    assert front == {tuple(r["objectives"].values()) for r in recipes}
    # What optuna-dashboard shows: the objectives by name, each trial linked to its folder.
    space = yaml.safe_load((run / "space.yaml").read_text())
    assert study.metric_names == [o["name"] for o in space["objectives"]]
    by_id = {r["trial_id"]: r for r in records}
    for t in study.trials:
        record = by_id[t.user_attrs["trial_id"]]
        assert t.user_attrs["rung_metric"] > 0 and t.user_attrs["training_iteration"] >= 1
        if t.state.name == "COMPLETE":
            assert t.user_attrs["mixture_id"] == record["mixture_id"]
            assert list(t.values) == [record["objectives"][n] for n in study.metric_names]


def test_leaderboard_and_printed_table(tiny_run):
    run, out = tiny_run
    rows = list(csv.DictReader(open(run / "leaderboard.csv")))
    assert len(rows) >= 4
    assert rows[0]["rank"] == "1" and rows[0]["pareto"] == "1"
    assert "rank" in out.stdout and "recipes in" in out.stdout


def test_trial_folders_describe_themselves(tiny_run):
    run, _ = tiny_run
    trials = glob.glob(str(run / "trials" / "*" / "trial.json"))
    assert len(trials) >= 4
    t = json.load(open(trials[0]))
    assert {"config", "mixture", "seed", "versions", "data", "init"} <= set(t)
    assert t["versions"]["ray"] != "unknown"


def test_every_trial_continues_from_the_one_cached_balanced_base(tiny_run):
    run, _ = tiny_run
    inits = {
        json.load(open(p))["init"]["uri"]
        for p in glob.glob(str(run / "trials" / "*" / "trial.json"))
    }
    bases = glob.glob(str(run.parent / "_inits" / "balanced-*" / "_SUCCESS"))
    assert len(bases) == 1 and inits == {os.path.dirname(bases[0])}
    base = json.load(open(os.path.join(os.path.dirname(bases[0]), "base.json")))
    assert base["mixture"]["pretrain"]["code"] == 0.5 and base["steps"] == 20
    recipes = [yaml.safe_load(open(p)) for p in glob.glob(str(run / "recipes" / "*.yaml"))]
    assert {r["training"]["init"] for r in recipes} == {"balanced"}


def test_replay_reproduces_a_recipes_loss_curve(tiny_run):
    import subprocess
    import sys

    from tests.helpers import REPO

    run, _ = tiny_run
    recipe = sorted(glob.glob(str(run / "recipes" / "*.yaml")))[0]
    curve = run / "trials" / os.path.basename(recipe)[: -len(".yaml")] / "curve.jsonl"
    # 4 evals + the end of pretraining + mid-cooldown + 2 more noise points at the end (k = 3)
    assert len(curve.read_text().splitlines()) == 8
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", "replay", recipe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "reproduced" in out.stdout and "NOT" not in out.stdout
    assert out.stdout.count("diff 0.00e+00") == 8
    bad = subprocess.run(
        [sys.executable, "-m", "codemix_search", "replay", str(run / "nope.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "no such recipe" in bad.stderr


def test_no_credentials_in_anything_the_run_wrote(tiny_run):
    run, out = tiny_run
    storage = run.parent
    roots = [str(storage), *RAY_TMP]  # run, data, bases, Tune/Train state; Ray's logs
    secrets = [v.encode() for v in FAKE_SECRETS.values()]
    scanned, leaks = 0, []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                scanned += 1
                leaks += [f"{path}: {s[:8]!r}..." for s in secrets if s in data]
    assert scanned > 50, scanned
    for text in (out.stdout, out.stderr):
        leaks += [f"console: {s[:8]!r}..." for s in secrets if s.decode() in text]
    assert leaks == [], leaks[:10]


def test_cost_ledger_totals_match_the_trials_and_recipes_carry_theirs(tiny_run):
    run, out = tiny_run
    ledger = json.loads((run / "ledger.json").read_text())
    trials, totals = ledger["trials"], ledger["totals"]
    assert len(trials) == 4 and totals["tokens"] == sum(c["tokens"] for c in trials.values())
    assert totals["flops"] == pytest.approx(sum(c["flops"] for c in trials.values()))
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    pruned = [r for r in records if r["status"] == "pruned"]
    assert all(trials[r["trial_id"]]["saved_tokens"] > 0 for r in pruned)
    assert (totals["saved_tokens"] > 0) == bool(pruned)
    assert "cost: " in out.stdout and "early stopping saved" in out.stdout
    for path in glob.glob(str(run / "recipes" / "*.yaml")):
        recipe = yaml.safe_load(open(path))
        assert recipe["cost"] == trials[recipe["trial_id"]]


def test_the_plan_predicts_what_the_tiny_run_spent(tiny_run):
    """``codemix_search plan`` against the run's own ledger and clock, from the built-in row
    (measured on other runs, not this one): given the share of tokens ASHA let the run train
    (simulated before a run, taken from the ledger here: 4 trials are too few for the
    simulation's mean to be a test), the plan's tokens are the ledger's, and its device-seconds
    and wall-clock within +-25% of what the run spent (the issue's target)."""
    import json

    from codemix_search.analysis.budget import cost_plan, learnt_rows
    from codemix_search.config.load import load_space
    from codemix_search.core import costs

    run, _ = tiny_run
    space = load_space(TINY)
    ledger = json.loads((run / "ledger.json").read_text())["totals"]
    done = json.loads((run / "_SUCCESS").read_text())
    assert done["bases_seconds"] > 0 and done["search_seconds"] > 0  # where the time went
    wall = done["wall_seconds"] - done["data_seconds"]  # the plan leaves out a first data build
    planned = cost_plan(space)
    assert ledger["planned_tokens"] == planned.planned_tokens == 4 * space.training.tokens
    share = ledger["tokens"] / ledger["planned_tokens"]
    rows = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    finished = sum(r["status"] == "finished" for r in rows) / len(rows)
    t = space.training
    row = costs.throughput(t.model, "cpu", space.data.vocab_size, t.seq_len, table=costs.TABLE)
    assert row.source.startswith("measured")
    same = costs.plan(
        4, t.tokens, t.model, 2048, t.seq_len, 1, 2, (share, finished), row, 1, t.init_tokens
    )
    assert same.tokens == ledger["tokens"] + t.init_tokens
    trials_s = same.device_seconds - same.bases_seconds  # the ledger counts the trials only
    assert 0.75 < trials_s / ledger["device_seconds"] < 1.25, (same, ledger)
    assert 0.75 < same.wall_seconds / wall < 1.25, (same, wall)  # the base was trained here
    # The run taught this machine's table its throughput: later plans use the measured row.
    learnt = {(r.model, r.device): r for r in learnt_rows()}
    assert learnt[("tiny", "cpu")].source.startswith("learnt from run")
    assert cost_plan(space).throughput["source"].startswith("learnt from run")


def test_a_recipes_checkpoint_is_a_self_contained_hf_folder_linked_from_the_run(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _ = tiny_run
    for path in glob.glob(str(run / "recipes" / "*.yaml")):
        rec = yaml.safe_load(open(path))
        ckpt = run / rec["provenance"]["checkpoint_in_run"]
        assert str(ckpt) == rec["provenance"]["checkpoint_uri"]
        config = json.loads((ckpt / "tokenizer_config.json").read_text())
        assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # transformers 4.x too
        tok = AutoTokenizer.from_pretrained(str(ckpt))
        model = AutoModelForCausalLM.from_pretrained(str(ckpt))
        ids = tok("def add(a, b):", return_tensors="pt").input_ids
        assert model(input_ids=ids).logits.shape[-1] >= len(tok)


def test_lm_eval_cli_rescores_a_trial_from_the_task_files_kept_in_a_copied_run(tiny_run, tmp_path):
    """The run keeps the lm-eval task files its trials scored with; after the run folder is
    copied, `codemix_search export COPY` points them at the copy, and lm-eval's own CLI on a
    recipe's checkpoint gives the trial's recorded scores."""
    import shutil

    run, _ = tiny_run
    copy = tmp_path / "copied-run"
    shutil.copytree(run, copy)
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search.cli", "export", str(copy)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"task files now point at {copy / 'tasks'}" in out.stdout
    assert str(run) not in "".join(p.read_text() for p in (copy / "tasks").glob("*.yaml"))
    rec = yaml.safe_load(open(sorted(glob.glob(str(copy / "recipes" / "*.yaml")))[0]))
    result = json.loads((copy / "trials" / rec["trial_id"] / "result.json").read_text())
    ckpt = copy / rec["provenance"]["checkpoint_in_run"]
    lm = subprocess.run(
        [
            sys.executable, "-m", "lm_eval", "run", "--model", "hf",
            "--model_args", f"pretrained={ckpt}", "--include_path", str(copy / "tasks"),
            "--tasks", "demo_nl_reasoning", "--limit", "48", "--batch_size", "16",
            "--output_path", str(tmp_path / "lm-eval"),
        ],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert lm.returncode == 0, lm.stderr[-3000:]
    written = glob.glob(str(tmp_path / "lm-eval" / "**" / "results_*.json"), recursive=True)
    scores = json.loads(open(written[0]).read())["results"]["demo_nl_reasoning"]
    for metric in ("acc", "acc_norm", "gold_bpb"):
        assert scores[f"{metric},none"] == pytest.approx(
            result[f"demo_nl_reasoning/{metric}"], abs=1e-6
        ), metric


def test_the_grid_points_benchmark_reads_a_finished_run(tiny_run, tmp_path):
    """benchmarks/grid_points.py (its smoke run: the tiny run's folder): every finished trial
    becomes one committed point with its mixture, seed, objectives, tokens and seconds."""
    run, _ = tiny_run
    out = subprocess.run(
        [sys.executable, "benchmarks/grid_points.py", str(run), "--out", str(tmp_path / "g")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    points = [json.loads(x) for x in (tmp_path / "g_points.jsonl").read_text().splitlines()]
    finished = [r for r in load_run(Folder(str(run))) if r.finished]
    assert len(points) == len(finished) and points
    for p in points:
        assert {"mixture", "seed", "objectives", "tokens", "seconds"} <= set(p) and p["tokens"]
