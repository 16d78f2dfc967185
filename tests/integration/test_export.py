"""Export: report (markdown, JSON, PNG, HTML), recipes and trainer exports from trial records;
the `export` command; atomic export to S3 through a server that dies mid-write."""

import json
import random
import subprocess
import sys

import pytest
import yaml

from codemix_search.config.load import load_space
from codemix_search.core.records import TrialRecord
from codemix_search.evaluate.baseline import with_baseline_comparison
from codemix_search.export.recipes import export_run
from codemix_search.storage.folder import Folder
from tests.helpers import REPO, TINY

DATA_INFO = {"uri": "x", "tokenizer_sha256": "abc", "key": "k", "paths": {"text": "s3://c/text"}}


def make_records(space, run: Folder):
    rng = random.Random(0)
    records = []
    statuses = ["finished"] * 4 + ["pruned", "diverged"]
    for i, status in enumerate(statuses):
        cfg = space.sample(rng)
        if i == 0:
            cfg.update(code_fraction=0.0, cooldown_code_fraction=0.0)  # the baseline
        mix = space.mixture(cfg)
        nl, code = 0.3 + 0.05 * i, 0.5 - 0.06 * i + (0.2 if i == 3 else 0)
        finished = status == "finished"
        metrics = {
            "val_loss": 6.0 - i * 0.1,
            "tokens": 20480,
            "train_seconds": 10.0,
            "eval_seconds": 2.0,
        }
        if finished:
            metrics.update(
                {"category/nl_reasoning": nl, "category/code": code, "baseline": int(i == 0)}
            )
        records.append(
            TrialRecord(
                **{
                    "trial_id": f"t{i}",
                    "status": status,
                    "config": cfg,
                    "mixture": mix.to_dict(),
                    "mixture_id": mix.id,
                    "objectives": {"nl_reasoning": nl, "code": code} if finished else {},
                    "metrics": metrics,
                    "error": None,
                }
            )
        )
        gens = [
            {
                "prompt": f"p{k}",
                "reference": "the cat sat on the mat",
                "generation": "the cat sat" if i else "zz",
            }
            for k in range(3)
        ]
        run.child("trials", f"t{i}").write_json(
            "generations.json", {"demo_generative_samples": gens}
        )
    # scored against the baseline as the pipeline does before its export (the judge's stage)
    return with_baseline_comparison(records, space, run)


def test_report_recipes_and_trainer_exports(tmp_path):
    space = load_space(TINY)
    run = Folder(str(tmp_path / "run"))
    records = make_records(space, run)
    uris = export_run(records, space, run, "r1", DATA_INFO)
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    summary = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    assert summary["by_status"] == {
        "finished": 4, "pruned": 1, "diverged": 1, "error": 0, "interrupted": 0
    }  # fmt: skip
    assert summary["hypervolume"] > 0 and summary["baseline"] == "t0" and summary["knee"]
    assert "hypervolume" in md and "(knee)" in md and "+" in md and "%" in md
    assert "vs baseline (+ = better)" in md
    # four trials, no seed replicas and no calibration beside the run: no verdict is a ranking
    for name in ("nl_reasoning", "code"):
        assert summary["signal"][name]["verdict"].startswith("seed noise not measured")
        assert summary["signal"][name]["seed_noise"] is None
    # Per trial, for programs: one row each, front rows linked to their recipe in the run.
    table = {row["trial_id"]: row for row in summary["trials_table"]}
    assert summary["schema_version"] == 2 and set(table) == {f"t{i}" for i in range(6)}
    for row in table.values():
        assert row["pareto"] == (row["recipe"] is not None)
        if row["pareto"]:
            assert (tmp_path / "run" / row["recipe"]).exists()
    assert [table[f"t{i}"]["rank"] for i in (4, 5)] == [None, None]
    assert table["t1"]["win_rate"]["demo_generative_samples"] == 1.0
    assert table["t1"]["objectives"]["nl_reasoning"] == pytest.approx(0.35)
    assert (tmp_path / "run" / "report" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    html = (tmp_path / "run" / "report" / "pareto.html").read_text()
    assert "plotly" in html and all(f"t{i}" in html for i in range(4))
    assert (tmp_path / "run" / "report" / "_SUCCESS").exists()
    front = {yaml.safe_load(open(u))["trial_id"] for u in uris}
    assert front and front <= {"t0", "t1", "t2", "t3"}
    for tid in front:
        rec = yaml.safe_load((tmp_path / "run" / "recipes" / f"{tid}.yaml").read_text())
        assert rec["training"]["init"] == "balanced" and rec["provenance"]["data"]["key"] == "k"
        if tid != "t0":
            assert rec["vs_baseline"]["win_rate"]["demo_generative_samples"]["win_rate"] == 1.0
        # No trainer file over the sources' raw URIs (a trainer could not run it): those come
        # from `export --paths` (test_target_units.py) or `export --format` (trainer data).
        for fmt in ("megatron", "mosaic", "olmo_core"):
            assert not (tmp_path / "run" / "recipes" / f"{tid}.{fmt}.json").exists()
    assert (tmp_path / "run" / "recipes" / "_SUCCESS").exists()


def test_export_command_rewrites_a_run_and_refuses_a_non_run(tmp_path):
    space = load_space(TINY)
    run = Folder(str(tmp_path / "run"))
    records = make_records(space, run)
    run.write_yaml("space.yaml", space.to_dict())
    run.write_text("records.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in records))
    run.write_json("run.json", {"name": "r1", "data": DATA_INFO})
    cmd = [sys.executable, "-m", "codemix_search", "export"]
    r = subprocess.run(
        [*cmd, str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "recipes in" in r.stdout and (tmp_path / "run" / "recipes" / "_SUCCESS").exists()
    r = subprocess.run([*cmd, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "space.yaml: missing" in r.stderr and "Traceback" not in r.stderr


def test_s3_export_is_atomic_when_the_server_dies_mid_write(tmp_path, s3_endpoint, monkeypatch):
    import fsspec.config
    import s3fs

    import codemix_search.export.recipes as export_mod
    from tests.helpers import make_bucket

    # Fail fast instead of retrying for minutes against a dead server.
    monkeypatch.setitem(
        fsspec.config.conf["s3"],
        "config_kwargs",
        {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    )
    monkeypatch.setenv("CODEMIX_STORAGE_RETRY_S", "2")  # our backoff gives up after 2 s here
    bucket = make_bucket("exports")
    space = load_space(TINY)
    run = Folder(f"{bucket}/r1")
    records = make_records(space, run)
    real_recipe, calls = export_mod.recipe, []

    def dying_recipe(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            s3_endpoint.server.stop()  # the server dies after the report, before the recipes
        return real_recipe(*args, **kwargs)

    monkeypatch.setattr(export_mod, "recipe", dying_recipe)
    from codemix_search.errors import StorageError

    with pytest.raises(StorageError, match="unreachable"):
        export_run(records, space, run, "r1", DATA_INFO)
    s3_endpoint.server.start()
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    assert not fs.exists(f"{bucket}/r1/recipes/_SUCCESS")  # readers see it as unfinished
    visible = [p for p in fs.find(f"{bucket}/r1/recipes") if "/.tmp-" not in p]
    for p in visible:  # what was written is whole
        if p.endswith(".yaml"):
            assert yaml.safe_load(fs.cat(p))["trial_id"]
    monkeypatch.setattr(export_mod, "recipe", real_recipe)
    uris = export_run(records, space, run, "r1", DATA_INFO)  # a rerun completes it
    assert fs.exists(f"{bucket}/r1/recipes/_SUCCESS") and uris


def test_a_trial_no_longer_on_the_front_keeps_no_recipe(tmp_path):
    space = load_space(TINY)
    run = Folder(str(tmp_path / "run"))
    records = make_records(space, run)
    export_run(records, space, run, "r1", DATA_INFO)
    recipes = tmp_path / "run" / "recipes"
    before = {p.name for p in recipes.glob("*.yaml")}
    (recipes / "t9.yaml").write_text("trial_id: t9\n")  # a front member of an earlier export
    # t3 now the worst on both objectives (BPB, lower is better): its recipe must go
    worse = [
        r.with_export(objectives={"nl_reasoning": 9.0, "code": 9.0}) if r.trial_id == "t3" else r
        for r in records
    ]
    export_run(worse, space, run, "r1", DATA_INFO)
    after = {p.name for p in recipes.glob("*.yaml")}
    assert "t9.yaml" not in after and "t3.yaml" not in after
    assert after <= before and (recipes / "_SUCCESS").exists()


def test_a_run_where_nothing_finished_exits_1_and_is_not_marked_finished(tmp_path, capsys):
    import time

    from codemix_search.core.records import TrialStatus
    from codemix_search.pipeline import finish

    space = load_space(TINY)
    run = Folder(str(tmp_path / "run"))
    run.write_yaml("space.yaml", space.to_dict())
    cut = [
        r.with_export(status=TrialStatus.INTERRUPTED, objectives={},
                      metrics={**r.metrics, "stopped_by": "budget.max_tokens"})
        for r in make_records(space, run)[:2]
    ]  # fmt: skip
    assert finish(cut, space, run, "r1", DATA_INFO, time.time()) == 1
    out = capsys.readouterr().out
    assert "2 trials cut by budget.max_tokens" in out and "no trial finished" in out
    assert not run.is_complete()
