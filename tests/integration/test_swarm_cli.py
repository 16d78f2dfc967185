"""``codemix_search swarm | fit | propose`` as a user types them, on RegMix's published runs, on
one prefixed table with a size column, and on a run folder of ours; bad input is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from codemix_search.config.load import parse_space
from codemix_search.core.mixture import mixture_from_dirichlet
from codemix_search.core.records import TrialRecord
from tests.helpers import REPO

REGMIX = os.path.join(REPO, "benchmarks", "data", "regmix")


def cli(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "codemix_search", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok_json(*args):
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_fit_on_regmix_ranks_the_1b_mixtures():
    out = ok_json(
        "fit",
        REGMIX,
        "--objective",
        "arxiv_val_loss",
        "--fit-size",
        "1m",
        "--n",
        "48",
        "--predict-size",
        "1B",
        "--regressor",
        "gp",
    )
    assert out["regressor"] == "gp" and out["n_train"] == 48 and out["n_target"] == 64
    assert out["target_spearman"] > 0.8
    lo, hi = out["target_spearman_ci"]
    assert lo <= out["target_spearman"] <= hi
    assert 0 <= out["target_regret_share_of_range"] <= 1
    assert {"oof_spearman", "oof_spearman_ci", "target_regret_at_1"} <= set(out)


def test_two_file_layout_and_auto():
    out = ok_json(
        "fit",
        os.path.join(REGMIX, "test_pile_loss_1B.csv"),
        "--mixtures",
        os.path.join(REGMIX, "test_mixture_1B.csv"),
        "--objective",
        "github_val_loss",
        "--size",
        "1B",
    )
    assert out["n_train"] == 64 and out["fit_size"] == "1B"
    assert set(out["auto_candidates"]) == {"lightgbm", "gp", "loglinear"}
    best = max(out["auto_candidates"], key=out["auto_candidates"].get)
    assert out["regressor"] == best


def test_one_prefixed_table_with_sizes_round_trips(tmp_path):
    table = str(tmp_path / "swarm.parquet")
    summary = ok_json("swarm", REGMIX, "--out", table)
    assert summary["sizes"] == {"1B": 64, "1m": 768, "60m": 256}
    args = ("--weight-columns", "w:", "--metric-columns", "m:", "--size-column", "size")
    again = ok_json("swarm", table, *args)
    assert again["sizes"] == summary["sizes"] and again["metrics"] == summary["metrics"]
    out = ok_json(
        "fit",
        table,
        *args,
        "--objective",
        "pile_cc_val_loss",
        "--fit-size",
        "1m",
        "--n",
        "32",
        "--predict-size",
        "60m",
        "--regressor",
        "loglinear",
        "--select",
        "12",
    )
    assert out["n_target"] == 256
    assert set(out["selection"]) == {"n", "method", "random", "gp-ei"}


def write_run(folder, n=12, seed=0):
    """A finished run folder of ours (dirichlet space): records as the search writes them."""
    space = yaml.safe_load(open(os.path.join(REPO, "search_spaces", "dirichlet.yaml")))
    parsed = parse_space(space, "dirichlet.yaml")
    rng = np.random.RandomState(seed)
    os.makedirs(folder)
    with open(os.path.join(folder, "space.yaml"), "w") as f:
        yaml.safe_dump(space, f)
    with open(os.path.join(folder, "records.jsonl"), "w") as f:
        for i in range(n):
            config = {p: float(rng.uniform(0.05, 1)) for p in parsed.mixture_param_names}
            mix = mixture_from_dirichlet(config, parsed.catalog, 0.02)
            code = 3.5 - mix.pretrain["code"] - 0.5 * mix.cooldown["code"]
            nl = 3.0 + 0.4 * mix.pretrain["code"] - 0.2 * mix.pretrain["text"]
            rec = TrialRecord(
                f"t{i:03d}",
                "finished",
                config,
                mix.to_dict(),
                mix.id,
                {"code": code, "nl_reasoning": nl, "world_knowledge": 3.8},
            )
            f.write(json.dumps(rec.to_dict()) + "\n")
    return str(folder)


def test_propose_from_our_run_writes_recipes_and_a_confirmation_space(tmp_path):
    run = write_run(tmp_path / "run")
    fitted = ok_json("fit", run, "--objective", "code", "--regressor", "gp")
    assert fitted["n_train"] == 12 and fitted["fit_size"] == "demo"  # the space's model
    assert fitted["oof_spearman"] > 0.5  # code BPB follows the code weights
    swarm = ok_json("swarm", run)
    assert set(swarm["blocks"]) == {"pretrain", "cooldown"}  # one init: no init block
    out_dir = str(tmp_path / "proposed")
    out = ok_json(
        "propose",
        run,
        "--objective",
        "code",
        "--also",
        "nl_reasoning",
        "--weights",
        "code=1,nl_reasoning=1",
        "--regressor",
        "loglinear",
        "--k",
        "2",
        "--out",
        out_dir,
        "--confirm-model",
        "demo",
    )
    assert len(out["proposals"]) == 2
    files = sorted(os.listdir(out_dir))
    assert files == [
        "_SUCCESS",
        "confirm.yaml",
        "proposal-0.yaml",
        "proposal-1.yaml",
        "surface.json",
        "surface.png",
    ]
    recipe = yaml.safe_load(open(os.path.join(out_dir, "proposal-0.yaml")))
    assert recipe["predicted"] is True and recipe["made_by"]["regressor"] == "loglinear"
    for phase in ("pretrain", "cooldown"):
        assert sum(recipe["weights"][phase].values()) == pytest.approx(1, abs=1e-9)
        assert min(recipe["weights"][phase].values()) >= 0.02 - 1e-9  # the space's min_weight
    # the space file is one our loader takes, and its points train exactly the proposals
    raw = yaml.safe_load(open(os.path.join(out_dir, "confirm.yaml")))
    space = parse_space(raw, "confirm.yaml")
    assert space.training.model == "demo" and len(space.points_to_evaluate) == 2
    for point, p in zip(space.points_to_evaluate, out["proposals"], strict=True):
        mix = space.mixture(point)
        for phase in ("pretrain", "cooldown"):
            assert mix.phase(phase) == pytest.approx(p["weights"][phase], abs=2e-6)
    pd_ = json.load(open(os.path.join(out_dir, "surface.json")))["partial_dependence"]
    assert set(pd_) == {
        f"{ph}/{s}"
        for ph in ("pretrain", "cooldown")
        for s in ("text", "knowledge", "code", "synthetic_code", "commits")
    }


def test_propose_on_regmix_with_constraints_and_a_repetition_cap(tmp_path):
    avail = tmp_path / "available.yaml"
    cols = [
        "arxiv",
        "freelaw",
        "nih_exporter",
        "pubmed_central",
        "wikipedia_en",
        "dm_mathematics",
        "github",
        "philpapers",
        "stackexchange",
        "enron_emails",
        "gutenberg_pg_19",
        "pile_cc",
        "ubuntu_irc",
        "europarl",
        "hackernews",
        "pubmed_abstracts",
        "uspto_backgrounds",
    ]
    # sizes with units, as `export --target-tokens` takes them
    avail.write_text(yaml.safe_dump({c: ("5B" if c == "pile_cc" else 1e11) for c in cols}))
    out = ok_json(
        "propose",
        REGMIX,
        "--fit-size",
        "1m",
        "--n",
        "64",
        "--objective",
        "pile_cc_val_loss",
        "--also",
        "github_val_loss",
        "--constraint",
        "github_val_loss<=4.5",
        "--available",
        str(avail),
        "--target-tokens",
        "100B",
        "--max-epochs",
        "4",
        "--regressor",
        "gp",
    )
    p = out["proposals"][0]
    assert p["weights"]["mixture"]["pile_cc"] <= 0.2 + 1e-9  # 4 x 5e9 / 1e11
    assert p["predicted"]["github_val_loss"]["mean"] <= 4.5
    assert p["predicted"]["pile_cc_val_loss"]["sd"] > 0


def fit_table(table: str, *extra: str) -> list[str]:
    """``fit`` over one prefixed table (metric ``x``)."""
    return ["fit", table, "--weight-columns", "w:", "--metric-columns", "m:", "--objective", "x",
            *extra]  # fmt: skip


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            fit_table("nope.csv"),
            "nope.csv: not found",
        ),
        (["fit", REGMIX, "--objective", "nope_loss", "--fit-size", "1m"], "no metric 'nope_loss'"),
        (["fit", REGMIX, "--objective", "arxiv_val_loss"], "--fit-size: "),
        (["fit", REGMIX, "--objective", "arxiv_val_loss", "--fit-size", "7b"], "size '7b'"),
        (
            ["fit", REGMIX, "--objective", "arxiv_val_loss", "--fit-size", "1B", "--n", "500"],
            "--n: 500",
        ),
        (
            fit_table("SMALL"),
            "a fit needs at least 5",
        ),
        (
            fit_table("SUM"),
            "not 1",
        ),
        (
            fit_table("NAN"),
            "not a finite number",
        ),
        (
            fit_table("SMALL", "--size-column", "zz"),
            "--size-column: no column 'zz'",
        ),
        (
            [
                "propose",
                REGMIX,
                "--fit-size",
                "1B",
                "--objective",
                "arxiv_val_loss",
                "--min",
                "arxiv=0.6",
                "--min",
                "github=0.6",
                "--out",
                "OUT",
            ],
            "no mixture satisfies",
        ),
        (
            [
                "propose",
                REGMIX,
                "--fit-size",
                "1B",
                "--objective",
                "arxiv_val_loss",
                "--regressor",
                "loglinear",
                "--constraint",
                "arxiv_val_loss<=0",
                "--out",
                "OUT",
            ],
            "no candidate mixture satisfies",
        ),
        (["swarm", REGMIX, "--out", "OUT.txt"], "--out: "),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    tables = {
        "SMALL": "w:a,w:b,m:x\n" + "0.5,0.5,1\n" * 4,
        "SUM": "w:a,w:b,m:x\n0.5,0.4123,1\n",
        "NAN": "w:a,w:b,m:x\nnan,1,1\n",
    }
    args = list(args)
    for i, a in enumerate(args):
        if a in tables:
            (tmp_path / f"{a}.csv").write_text(tables[a])
            args[i] = str(tmp_path / f"{a}.csv")
        elif a.startswith("OUT"):
            args[i] = str(tmp_path / a)
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not any(p.name.startswith("OUT") for p in tmp_path.iterdir())


def test_the_benchmark_runs_at_its_smoke_size_and_its_docs_recompute(tmp_path):
    r = subprocess.run(
        [sys.executable, "benchmarks/swarm_fit.py", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    summary = json.load(open(tmp_path / "swarm_fit.json"))
    assert set(summary["by_regressor"]) == {"lightgbm-default", "lightgbm", "gp", "loglinear"}
    assert summary["by_regressor"]["gp"]["32"]["spearman_1b"] > 0.7
    assert (tmp_path / "swarm_fit.png").stat().st_size > 1000
