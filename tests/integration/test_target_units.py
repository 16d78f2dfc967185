"""Recipes in the target run's units: `export RUN --tokenizer T --target-tokens N ...`.

The second tokenizer is GPT-NeoX-20B's (benchmarks/data/tokenizers, Apache-2.0; nothing is
downloaded). Expected weights are computed here by another path (transformers' tokenizer
classes, document by document) than the exporter's (the Rust tokenizers' batch calls), and each
trainer's own library reads the re-tokenized export: the share of each source it deals, counted
in GPT-NeoX tokens, is the recipe's weight in those units within one sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from codemix_search.data.dataset import load_split, materialize
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout
from tests.helpers import REPO
from tests.integration.consumer_env import (
    ENV,
    check_shares,
    consume,
)

NEOX = os.path.join(REPO, "benchmarks", "data", "tokenizers", "gpt-neox-20b")
NEOX_VOCAB = 50277


def cli(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "codemix_search.cli", "export", *args],
        capture_output=True, text=True, timeout=300, env=ENV, cwd=REPO,
    )  # fmt: skip


@pytest.fixture(scope="module")
def measured(tiny_data):
    """Per source (bytes, proxy tokens, GPT-NeoX tokens) over every train document, measured
    with transformers' own tokenizer classes."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    local = materialize(tiny_data.uri, tiny_data.manifest)
    proxy = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(local, "tokenizer", "tokenizer.json")
    )
    neox = AutoTokenizer.from_pretrained(NEOX, local_files_only=True)
    neox.model_max_length = 10**9
    eos = tiny_data.manifest.eos_id
    out = {}
    for source in tiny_data.manifest.sources:
        shard = np.asarray(load_split(local, tiny_data.manifest, source, "train"))
        ends = np.flatnonzero(shard == eos)
        nbytes = ptok = ntok = 0
        first_text = None
        for a, b in zip(np.concatenate([[-1], ends[:-1]]) + 1, ends + 1, strict=True):
            text = proxy.decode(shard[a : b - 1].tolist(), clean_up_tokenization_spaces=False)
            first_text = first_text if first_text is not None else text
            nbytes += len(text.encode())
            ptok += b - a
            ntok += len(neox(text, add_special_tokens=False)["input_ids"]) + 1
        out[source] = {"bytes": nbytes, "proxy": ptok, "neox": ntok, "first_text": first_text}
    return out


def expected(weights: dict, measured: dict, unit: str) -> dict:
    raw = {s: w * measured[s]["bytes"] / measured[s]["proxy"] for s, w in weights.items() if w > 0}
    if unit == "neox":
        raw = {s: v / (measured[s]["bytes"] / measured[s]["neox"]) for s, v in raw.items()}
    return {s: v / sum(raw.values()) for s, v in raw.items()}


def test_recipes_state_byte_shares_and_write_no_trainer_file_that_cannot_run(run, measured):
    recipes = RunLayout(run).recipes
    names = recipes.listdir()
    assert not [
        n for n in names if n.endswith((".megatron.json", ".mosaic.json", ".olmo_core.json"))
    ]
    for name in (n for n in names if n.endswith(".yaml")):
        rec = recipes.read_yaml(name)
        units = rec["units"]
        assert units["weights_are"] == "shares of tokens under the proxy's tokenizer"
        for phase in ("pretrain", "cooldown"):
            want = expected(rec["phases"][phase]["weights"], measured, "bytes")
            assert units["byte_weights"][phase] == pytest.approx(want, abs=2e-6)
        for s, v in units["bytes_per_token"].items():
            assert v["mean"] == pytest.approx(measured[s]["bytes"] / measured[s]["proxy"], abs=1e-6)
            assert v["se"] == 0.0 and v["sample_documents"] == v["documents"]


def test_trainer_blends_only_over_paths_the_user_gave_and_go_when_not_asked(run, tmp_path):
    import shutil

    copy = Folder(str(tmp_path / "run"))
    shutil.copytree(run.uri, copy.uri)
    paths = tmp_path / "paths.yaml"
    sources = ["code", "commits", "knowledge", "synthetic_code", "text"]
    paths.write_text("".join(f"{s}: /lab/megatron/{s}_text_document\n" for s in sources))
    out = cli(copy.uri, "--paths", str(paths))
    assert out.returncode == 0, out.stderr
    written = [n for n in copy.child("recipes").listdir() if n.endswith(".megatron.json")]
    assert written
    mega = copy.child("recipes").read_json(written[0])
    assert any(str(x).startswith("/lab/megatron/") for x in mega["phases"]["pretrain"]["data_path"])
    out = cli(copy.uri)  # no paths now: the blends over them go
    assert out.returncode == 0, out.stderr
    assert not [n for n in copy.child("recipes").listdir() if ".megatron." in n]
    paths.write_text("code: /lab/code\n")  # a source without a path: one line, nothing written
    before = copy.read_text("records.jsonl")
    out = cli(copy.uri, "--paths", str(paths))
    assert out.returncode == 2 and "--paths" in out.stderr and "Traceback" not in out.stderr
    assert copy.read_text("records.jsonl") == before


def test_units_in_json_match_transformers_own_counts(run, measured):
    out = cli(run.uri, "--tokenizer", NEOX, "--json")
    assert out.returncode == 0, out.stderr
    blocks = json.loads(out.stdout)["recipes"]  # strict JSON: json.loads refuses NaN/Infinity
    recipes = {r["trial_id"]: r for r in (RunLayout(run).recipes.read_yaml(n) for n in
               RunLayout(run).recipes.listdir() if n.endswith(".yaml"))}  # fmt: skip
    assert set(blocks) == set(recipes)
    moved = 0.0
    for tid, block in blocks.items():
        units = block["units"]
        assert units["tokenizer"] == "gpt-neox-20b" and block["budget"] is None
        for s, v in units["bytes_per_token"].items():
            m = measured[s]
            assert v["target"]["mean"] == pytest.approx(m["bytes"] / m["neox"], abs=1e-6)
        for phase in ("pretrain", "cooldown"):
            w = recipes[tid]["phases"][phase]["weights"]
            want = expected(w, measured, "neox")
            assert units["target_token_weights"][phase] == pytest.approx(want, abs=2e-6)
            moved = max(moved, max(abs(want[s] - w[s]) for s in want))
    assert moved > 0.005  # the units differ enough here that a no-op conversion would fail


def test_a_budget_over_the_cap_is_refused_in_one_line_and_writes_nothing(run):
    out = cli(run.uri, "--target-tokens", "300B", "--format", "megatron", "--out", run.file("x"))
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "epochs of" in line and "--rebalance" in line
    assert not run.exists("x")


def test_declared_sizes_epochs_and_rebalance(run, tmp_path):
    avail = tmp_path / "available.yaml"
    avail.write_text(
        "code: 200B\ncommits: 40B\nknowledge: {bytes: 100G}\nsynthetic_code: 30B\ntext: 2T\n"
    )
    args = [run.uri, "--tokenizer", NEOX, "--target-tokens", "300B", "--available", str(avail)]
    out = cli(*args, "--json")
    assert out.returncode == 2 and "knowledge" in out.stderr  # ~6 epochs of knowledge
    out = cli(*args, "--rebalance", "--json")
    assert out.returncode == 0, out.stderr
    blocks = json.loads(out.stdout)["recipes"]
    assert any(b["budget"]["rebalanced"] for b in blocks.values())
    for b in blocks.values():
        budget = b["budget"]
        assert budget["units"] == "target tokens" and budget["max_epochs"] == 4.0
        assert sum(budget["phase_tokens"].values()) == pytest.approx(3e11, rel=1e-9)
        for row in budget["sources"].values():
            assert row["epochs"] <= 4.0 + 1e-6 and row["available_from"] == "declared"
            assert row["epochs"] == pytest.approx(
                sum(row["needed"].values()) / row["available"], rel=1e-3
            )
    out = cli(*args, "--rebalance")  # the human table says the same
    assert out.returncode == 0 and "rebalanced" in out.stdout and "epochs" in out.stdout


@pytest.mark.parametrize(
    "extra,words",
    [
        (["--tokenizer", "/nonexistent/tok"], "not a loadable tokenizer"),
        (["--tokenizer", "no-such-org/no-such-tokenizer"], "not a loadable tokenizer"),
        (["--target-tokens", "0"], "--target-tokens"),
        (["--target-tokens", "lots"], "--target-tokens"),
        (["--target-tokens", "-5B"], "--target-tokens"),
        (["--target-tokens", "nan"], "--target-tokens"),
        (["--max-epochs", "4"], "needs --target-tokens"),
        (["--target-tokens", "1M", "--cooldown-share", "1.5"], "--cooldown-share"),
        (["--target-tokens", "1M", "--max-epochs", "-1"], "--max-epochs"),
        (["--target-tokens", "1M", "--available", "AVAIL_PARTIAL"], "no figure for"),
        (["--target-tokens", "1M", "--available", "AVAIL_BAD"], "text"),
        (["--target-tokens", "1T", "--available", "AVAIL_TINY", "--rebalance"], "no rebalance"),
        (["--target-tokens", "1M", "--available", "/nonexistent.yaml"], "file not found"),
    ],
)
def test_bad_target_input_is_one_line_and_writes_nothing(run, tmp_path, extra, words):
    files = {
        "AVAIL_PARTIAL": "code: 1B\n",
        "AVAIL_BAD": "code: 1B\ntext: -3\n",
        "AVAIL_TINY": "".join(
            f"{s}: 10\n" for s in ("code", "commits", "knowledge", "synthetic_code", "text")
        ),
    }
    args = []
    for a in extra:
        if a in files:
            (tmp_path / a).write_text(files[a])
            a = str(tmp_path / a)
        args.append(a)
    out = cli(run.uri, *args, "--format", "olmo_core", "--out", str(tmp_path / "out"))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert words in out.stderr
    assert not (tmp_path / "out").exists()


def read_back(fmt: str, out: Folder, python: str, tmp_path) -> dict:
    script = {
        "megatron": "read_megatron.py",
        "olmo_core": "read_olmo.py",
        "mosaic": "read_mosaic.py",
    }
    got = {}
    for name in sorted(n for n in out.listdir() if n.endswith(".json")):
        extra = [str(tmp_path / name)] if fmt == "megatron" else []
        got[name] = (out.read_json(name), consume(python, script[fmt], out.file(name), *extra))
    return got


@pytest.mark.parametrize("fmt", ["megatron", "olmo_core", "mosaic"])
def test_trainers_read_the_export_in_the_target_tokenizers_tokens(
    fmt, run, consumer_python, measured, tmp_path
):
    dest = Folder(str(tmp_path / fmt))
    # mosaic is written where mosaicml-streaming is installed (its own MDSWriter)
    python = consumer_python if fmt == "mosaic" else sys.executable
    out = cli(run.uri, "--format", fmt, "--tokenizer", NEOX, "--out", dest.uri, python=python)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "in gpt-neox-20b tokens" in out.stdout
    assert dest.read_json("tokenizer/tokenizer_config.json")["tokenizer_class"] == (
        "PreTrainedTokenizerFast"
    )
    recipes = {r.trial_id: r for r in load_run(run)}
    count = {"megatron": "samples", "olmo_core": "instances", "mosaic": "samples"}[fmt]
    worst = 0.0
    for name, (exported, read) in read_back(fmt, dest, consumer_python, tmp_path).items():
        assert exported["units"]["tokenizer"] == "gpt-neox-20b"
        assert "gpt-neox-20b" in exported["weights_are"]
        for phase, spec in exported["phases"].items():
            proxy_w = recipes[exported["trial_id"]].mixture[phase]
            want = expected({s: w for s, w in proxy_w.items() if w > 1e-6}, measured, "neox")
            assert spec["weights"] == pytest.approx(want, abs=1e-6)
        worst = max(worst, check_shares(name, exported, read, count))
        if fmt == "megatron":  # the first document is the source's first text in NeoX ids
            from transformers import AutoTokenizer

            neox = AutoTokenizer.from_pretrained(NEOX, local_files_only=True)
            first = read["first_document"]
            source = next(iter(exported["phases"]["pretrain"]["weights"]))
            assert first[-1] == neox.eos_token_id and max(first) < NEOX_VOCAB
            assert neox.decode(first[:-1]) == measured[source]["first_text"]
        if fmt == "olmo_core":
            for phase in exported["phases"]:
                ids = read[phase]["first_tokens"]
                assert max(ids) < NEOX_VOCAB
    print(f"{fmt} in gpt-neox-20b tokens: largest share deviation {worst:.4f}")


def test_the_units_benchmark_runs_at_its_smoke_size():
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "target_units.py"), "--smoke"],
        capture_output=True, text=True, timeout=600, env=ENV, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bytes / gpt-neox-20b token" in out.stdout and "code fraction" in out.stdout
