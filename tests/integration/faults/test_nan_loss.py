"""A diverging trial (NaN/inf loss) ends as `diverged`, is recorded, and the search goes on."""

import json

import optuna
import pytest
import yaml

from tests.helpers import TINY, run_cli, session_temp

pytestmark = pytest.mark.slow


def test_diverged_trials_are_recorded_and_the_search_goes_on(tmp_path):

    raw = yaml.safe_load(open(TINY))
    raw["name"] = "diverge"
    raw["sampler"] = "random"
    raw["seed"] = 1
    # Half the learning rates explode the loss within a few steps.
    raw["parameters"]["lr"] = {"type": "categorical", "choices": [1.0e6, 0.003]}
    raw["training"].update(init="scratch", grad_clip=1.0e9, tokens=10240, evals=2)
    raw["early_stopping"] = {"scheduler": "none"}
    raw["budget"] = {"samples": 3, "concurrency": 2}
    # Tried first (Optuna enqueues them), so both kinds of trial certainly run.
    raw["points_to_evaluate"] = [{"lr": 1.0e6}, {"lr": 0.003}]
    space = tmp_path / "diverge.yaml"
    space.write_text(yaml.safe_dump(raw))
    ray_tmp = session_temp("cm-ray-")
    out = run_cli(
        "--space",
        str(space),
        "--storage",
        str(tmp_path / "runs"),
        "--name",
        "d",
        timeout=900,
        env={"CODEMIX_RAY_TEMP_DIR": ray_tmp},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = tmp_path / "runs" / "d"
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    by_lr = {}
    for r in records:
        by_lr.setdefault(r["config"]["lr"], set()).add(r["status"])
    assert by_lr.get(1.0e6) == {"diverged"}, by_lr
    assert by_lr.get(0.003) == {"finished"}, by_lr
    for r in records:
        if r["status"] == "diverged":
            assert r["objectives"] == {} and r["metrics"]["diverged"] == 1
    study = optuna.load_study(study_name="diverge", storage=f"sqlite:///{run / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    assert states.count("FAIL") == sum(r["status"] == "diverged" for r in records)
    recipes = [yaml.safe_load(p.read_text()) for p in (run / "recipes").glob("*.yaml")]
    assert recipes and all(rec["training"]["lr"] == 0.003 for rec in recipes)
    assert "diverged" in out.stdout
