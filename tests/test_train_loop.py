"""The Ray-free training loop on CPU: reports, schedule, checkpoint, determinism, divergence."""

import os

import pytest

from codemix_search.space import load_space
from codemix_search.train_loop import eval_steps, loop_config, train
from tests.conftest import TINY

SHARES = {
    "code_fraction": 0.5,
    "synthetic_share": 0.2,
    "commit_share": 0.2,
    "cooldown_code_fraction": 0.2,
}


def run(tiny_data, **over):
    space = load_space(TINY)
    cfg = loop_config(space, SHARES, tiny_data.uri, tiny_data.manifest, seed=3)
    cfg.update(over)
    reports, ckpts = [], []

    def report(metrics, checkpoint_dir=None):
        reports.append(metrics)
        if checkpoint_dir:
            ckpts.append(sorted(os.listdir(checkpoint_dir)))

    last = train(cfg, report=report)
    return cfg, reports, ckpts, last


def test_eval_steps_even_and_end_on_last():
    assert eval_steps(40, 4) == [9, 19, 29, 39]
    assert eval_steps(5, 5) == [0, 1, 2, 3, 4]


def test_loop_reports_learns_and_checkpoints(tiny_data):
    cfg, reports, ckpts, last = run(tiny_data)
    assert len(reports) == cfg["evals"]
    assert [r["phase"] for r in reports][-1] == "cooldown" and reports[0]["phase"] == "pretrain"
    assert reports[-1]["lr"] == 0.0  # annealed to zero by the end of the cooldown
    assert reports[-1]["val_loss"] < reports[0]["val_loss"]
    assert set(reports[-1]) >= {
        f"val_loss/{s}" for s in ("text", "knowledge", "code", "synthetic_code", "commits")
    }
    assert reports[-1]["tokens"] == cfg["steps"] * cfg["batch_size"] * cfg["seq_len"]
    assert len(ckpts) == 1 and "model.safetensors" in ckpts[0] and "config.json" in ckpts[0]


def test_same_seed_same_losses(tiny_data):
    _, a, _, _ = run(tiny_data, steps=12, evals=2)
    _, b, _, _ = run(tiny_data, steps=12, evals=2)
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]


@pytest.mark.parametrize("lr", [1e6])
def test_divergence_is_reported(tiny_data, lr):
    _, reports, ckpts, last = run(tiny_data, lr=lr, grad_clip=1e9, steps=40)
    assert last["diverged"] == 1 and reports[-1]["diverged"] == 1 and not ckpts
