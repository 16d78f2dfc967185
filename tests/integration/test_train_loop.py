"""The Ray-free training loop on CPU: reports, schedule, checkpoint, determinism, divergence."""

import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from codemix_search.config.load import load_space
from codemix_search.core.schedule import Schedule
from codemix_search.errors import ConfigError
from codemix_search.train.checkpoint import load_weights
from codemix_search.train.loop import train
from codemix_search.train.loop_config import (
    checkpoint_steps,
    eval_steps,
    loop_config,
    noise_steps,
    report_steps,
)
from codemix_search.train.model import build_model
from tests.helpers import TINY, TINY_SHARES

SHARES = TINY_SHARES


def run(tiny_data, keep=None, resume_dir=None, **over):
    """Train the tiny config; ``keep``: a folder to copy each checkpoint into (by step)."""
    space = load_space(TINY)
    cfg = loop_config(space, SHARES, tiny_data.uri, tiny_data.manifest, seed=3)
    cfg = cfg.replace(**over)
    reports, ckpts = [], []

    def report(metrics, checkpoint_dir=None):
        reports.append(metrics)
        if checkpoint_dir:
            ckpts.append(sorted(os.listdir(checkpoint_dir)))
            if keep:
                shutil.copytree(checkpoint_dir, os.path.join(keep, str(metrics["step"])))

    last = train(cfg, report=report, resume_dir=resume_dir)
    return cfg, reports, ckpts, last


def test_eval_steps_even_and_end_on_last():
    assert eval_steps(40, 4) == [9, 19, 29, 39]
    assert eval_steps(5, 5) == [0, 1, 2, 3, 4]


def test_reports_include_the_end_of_continued_pretraining_and_checkpoints_follow():
    sched = Schedule(40, 1e-3, cooldown_share=0.2)
    # 31: the last pretraining step; 35: the middle of the cooldown (a rung that sees it)
    assert report_steps(sched, 4) == [9, 19, 29, 31, 35, 39]
    assert checkpoint_steps(sched, 4, every=1) == {9, 19, 29, 31, 35, 39}
    assert checkpoint_steps(sched, 4, every=2) == {19, 31, 39}  # every 2nd + both phase ends
    assert checkpoint_steps(sched, 4, every=99) == {31, 39}
    # k = 3 noise points at the end, 2% of training apart (at least one step), checkpointed
    assert report_steps(sched, 4, noise_points=3) == [9, 19, 29, 31, 35, 37, 38, 39]
    assert checkpoint_steps(sched, 4, every=99, noise_points=3) == {31, 37, 38, 39}
    assert noise_steps(200, 3) == [191, 195, 199] and noise_steps(200, 1) == [199]


def test_loop_reports_learns_and_checkpoints(tiny_data):
    cfg, reports, ckpts, last = run(tiny_data)
    # 4 evals, the end of pretraining, mid-cooldown, and 2 more noise points (k = 3)
    assert cfg.noise_points == 3 and len(reports) == cfg.training.evals + 2 + 2
    assert [r["phase"] for r in reports] == ["pretrain"] * 4 + ["cooldown"] * 4
    assert [r["step"] for r in reports][-3:] == [38, 39, 40]  # 2% of 40 steps: 1 step apart
    assert reports[-1]["lr"] == 0.0  # annealed to zero by the end of the cooldown
    assert reports[-1]["val_loss"] < reports[0]["val_loss"]
    assert set(reports[-1]) >= {
        f"val_loss/{s}" for s in ("text", "knowledge", "code", "synthetic_code", "commits")
    }
    assert reports[-1]["tokens"] == cfg.steps * cfg.tokens_per_step
    assert len(ckpts) == len(reports)  # checkpoint_every: 1
    assert {"model.safetensors", "config.json", "optimizer.pt", "state.json"} <= set(ckpts[-1])


def test_resume_from_a_checkpoint_finishes_exactly_like_an_uninterrupted_run(tiny_data, tmp_path):
    _, full, _, _ = run(tiny_data, keep=str(tmp_path))
    # Resume from the checkpoint after step 20 (the 2nd report): no replay, same numbers.
    _, resumed, _, _ = run(tiny_data, resume_dir=str(tmp_path / "20"))
    assert [r["step"] for r in resumed] == [r["step"] for r in full[2:]]
    for a, b in zip(resumed, full[2:], strict=True):
        assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]


def test_init_from_a_saved_model_warm_starts_and_a_wrong_size_is_one_line(tiny_data, tmp_path):
    _, scratch, _, _ = run(tiny_data, keep=str(tmp_path))
    base = str(tmp_path / str(scratch[-1]["step"]))
    _, warm, _, _ = run(tiny_data, init_uri=base)
    assert warm[0]["val_loss"] < scratch[0]["val_loss"] - 0.2
    model = build_model("tiny", tiny_data.manifest.vocab_size, 64, seed=123)
    load_weights(model, base)
    saved = load_file(os.path.join(base, "model.safetensors"))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved.get(name, saved["model.embed_tokens.weight"])), name
    with pytest.raises(ConfigError, match="same size and vocabulary"):
        run(tiny_data, init_uri=base, model="demo")


def test_same_seed_same_losses(tiny_data):
    _, a, _, _ = run(tiny_data, steps=12, evals=2)
    _, b, _, _ = run(tiny_data, steps=12, evals=2)
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]


@pytest.mark.parametrize("lr", [1e6])
def test_divergence_is_reported(tiny_data, lr):
    _, reports, ckpts, last = run(tiny_data, lr=lr, grad_clip=1e9, steps=40)
    assert last["diverged"] == 1 and reports[-1]["diverged"] == 1
    assert all(r["diverged"] == 0 for r in reports[:-1]) and ckpts[-1] == ["state.json"]
