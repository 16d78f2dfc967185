"""Shared pretraining prefixes with the real (Ray-free) training loop: a cooldown branched from
a cached prefix trains exactly like the whole run, and concurrent trials train a prefix once
(the others wait), even when the one training it dies."""

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from codemix_search.config.load import load_space
from codemix_search.storage.folder import Folder
from codemix_search.train.loop import train
from codemix_search.train.loop_config import loop_config
from codemix_search.train.prefix import PREFIXES, branch_config, ensure_prefix, prefix_key
from tests.helpers import TINY, TINY_SHARES, run_cli


def branch(data, cooldown_code=0.1):
    space = load_space(TINY)
    shares = {**TINY_SHARES, "cooldown_code_fraction": cooldown_code}
    cfg = loop_config(space, shares, data.uri, data.manifest, seed=5)
    return branch_config(cfg, space.seed)


def train_keeping(cfg, out_dir):
    """loop.train; the last checkpoint copied to ``out_dir``; the reports returned."""
    reports = []

    def report(metrics, checkpoint_dir=None):
        reports.append(metrics)
        if checkpoint_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
            shutil.copytree(checkpoint_dir, out_dir)

    train(cfg, report=report)
    return reports


def test_a_branch_from_a_prefix_trains_exactly_like_the_whole_run(tiny_data, tmp_path):
    cfg = branch(tiny_data)
    whole = train_keeping(cfg, str(tmp_path / "whole"))
    prefix = train_keeping(
        cfg.replace(stop_step=cfg.schedule.cooldown_start), str(tmp_path / "prefix")
    )
    rest = train_keeping(cfg.replace(resume_uri=str(tmp_path / "prefix")), str(tmp_path / "rest"))
    cut = cfg.schedule.cooldown_start
    assert [r["step"] for r in prefix] == [r["step"] for r in whole if r["step"] <= cut]
    assert [r["step"] for r in prefix + rest] == [r["step"] for r in whole]
    for a, b in zip(prefix + rest, whole, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5), a["step"]
        assert set(a) >= {f"val_loss/{s}" for s in tiny_data.manifest.source_names}
    # a branch with another cooldown shares the prefix, then goes its own way
    other = branch(tiny_data, cooldown_code=0.5)
    assert prefix_key(other) == prefix_key(cfg)
    theirs = train_keeping(other.replace(resume_uri=str(tmp_path / "prefix")), str(tmp_path / "o"))
    assert theirs[-1]["val_loss/code"] != pytest.approx(rest[-1]["val_loss/code"], rel=1e-4)


def _worker(storage, data_uri, manifest, calls, out, die):
    """One trial asking for the prefix; ``die``: the trainer kills itself half-way (once)."""
    from codemix_search.data.dataset import DataManifest

    class Data:
        uri = data_uri

    Data.manifest = DataManifest.from_dict(manifest)
    cfg = branch(Data)

    def train_prefix(pcfg, scratch: Folder):
        with open(calls, "a") as f:
            f.write(f"{os.getpid()}\n")
        if die:
            time.sleep(0.5)  # the others are waiting on the lock by now
            os.kill(os.getpid(), signal.SIGKILL)
        ckpt = scratch.child("ckpt").local_path()
        reports = train_keeping(pcfg, ckpt)
        rows = [{k: v for k, v in r.items() if isinstance(v, (int, float, str))} for r in reports]
        return ckpt, rows

    got = ensure_prefix(Folder(storage), cfg, train_prefix, made_by=f"pid {os.getpid()}")
    with open(out, "w") as f:
        json.dump({"key": got.key, "here": got.trained_here, "rows": len(got.curve)}, f)


@pytest.mark.parametrize("first_dies", [False, True])
def test_concurrent_trials_train_a_prefix_once(tiny_data, tmp_path, first_dies):
    storage, calls = str(tmp_path / "storage"), str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    args = (storage, tiny_data.uri, tiny_data.manifest.to_dict(), calls)
    procs = []
    if first_dies:  # holds the lock, then dies like an OOM-killed trial
        dead = ctx.Process(target=_worker, args=(*args, str(tmp_path / "dead"), True))
        dead.start()
        while not os.path.exists(calls):
            time.sleep(0.05)
        procs.append(dead)
    for i in range(3):
        p = ctx.Process(target=_worker, args=(*args, str(tmp_path / f"out{i}"), False))
        p.start()
        procs.append(p)
    for p in procs:
        p.join(timeout=300)
    outs = [json.load(open(tmp_path / f"out{i}")) for i in range(3)]
    trained = open(calls).read().split()
    assert len(trained) == (2 if first_dies else 1)  # once, or once more after the death
    assert sum(o["here"] for o in outs) == 1
    assert len({o["key"] for o in outs}) == 1 and all(o["rows"] == 4 for o in outs)
    folder = Folder(storage).child(PREFIXES, outs[0]["key"])
    assert folder.is_complete() and folder.exists("optimizer.pt")
    assert not folder.exists("run.lock")
    made = folder.read_json("prefix.json")
    assert made["steps"] == 32 and made["tokens"] == 32 * 8 * 64


def grid_space(tmp_path, name, code_fractions, cooldowns):
    space = yaml.safe_load(open(TINY))
    space |= {"name": name, "sampler": "grid"}
    space["parameters"] = {
        "code_fraction": {"type": "categorical", "choices": code_fractions},
        "cooldown_code_fraction": {"type": "categorical", "choices": cooldowns},
        "synthetic_share": 0.2,
        "commit_share": 0.1,
    }
    space["budget"] = {"samples": len(code_fractions) * len(cooldowns), "concurrency": 2}
    space["early_stopping"] = {"scheduler": "none", "metric": "objectives"}
    space["training"]["init"] = "scratch"  # no base: ~20 s the branching does not need
    space["evaluation"]["baseline"] = {
        "code_fraction": code_fractions[0],
        "cooldown_code_fraction": 0.0,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(space))
    return str(path)


def records_of(run):
    return [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]


def curve(run, trial_id):
    rows = (run / "trials" / trial_id / "curve.jsonl").read_text().splitlines()
    return [json.loads(x) for x in rows]


@pytest.mark.slow
def test_a_grid_run_branches_its_cooldowns_and_a_later_run_reuses_the_prefixes(tmp_path):
    storage = tmp_path / "runs"
    space = grid_space(tmp_path, "g", [0.0, 0.5], [0.0, 0.4])
    out = run_cli("--space", space, "--storage", str(storage), "--name", "a", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "shared pretraining saved 32,768 tokens (40%)" in out.stdout
    run = storage / "a"
    records = records_of(run)
    assert [r["status"] for r in records] == ["finished"] * 4
    by_prefix = {}
    for r in records:
        by_prefix.setdefault(r["metrics"]["prefix_key"], []).append(r)
    assert sorted(len(v) for v in by_prefix.values()) == [2, 2]
    prefixes = sorted(p for p in os.listdir(storage / "_prefixes") if not p.startswith("_"))
    assert prefixes == sorted(by_prefix)
    for siblings in by_prefix.values():
        a, b = siblings
        # one trained the prefix, the other branched from it: same pretraining reports (the
        # scheduler saw them: as many iterations), then their own cooldowns
        assert sorted(r["metrics"].get("shared_tokens", 0) for r in siblings) == [0, 16384]
        assert a["metrics"]["training_iteration"] == b["metrics"]["training_iteration"]
        ca, cb = curve(run, a["trial_id"]), curve(run, b["trial_id"])
        assert [r["step"] for r in ca] == [r["step"] for r in cb]
        pre = [
            (x["val_loss"], y["val_loss"]) for x, y in zip(ca, cb, strict=True) if x["step"] <= 32
        ]
        post = [
            (x["val_loss"], y["val_loss"]) for x, y in zip(ca, cb, strict=True) if x["step"] > 32
        ]
        assert len(pre) == 4 and all(x == y for x, y in pre)
        assert any(x != y for x, y in post)
    ledger = json.loads((run / "ledger.json").read_text())["totals"]
    assert (ledger["tokens"], ledger["shared_tokens"]) == (2 * 20480 + 2 * 4096, 2 * 16384)
    plan = subprocess.run(
        [sys.executable, "-m", "codemix_search", "plan", "--space", space, "--from-run", str(run)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "from 2 shared pretraining prefixes: 32,768 tokens" in plan.stdout

    # another run on the same storage branches both its trials from a cached prefix
    again = grid_space(tmp_path, "g2", [0.5], [0.0, 0.2])
    out = run_cli("--space", again, "--storage", str(storage), "--name", "b", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ledger = json.loads((storage / "b" / "ledger.json").read_text())["totals"]
    assert (ledger["tokens"], ledger["shared_tokens"]) == (2 * 4096, 2 * 16384)
    assert {r["metrics"]["prefix_key"] for r in records_of(storage / "b")} <= set(prefixes)
