"""`codemix_search export RUN --format megatron|olmo_core|mosaic`, read by the trainers' own
libraries.

megatron-core 0.16.1 and ai2-olmo-core 3.0.0 pin a huggingface_hub other than ours, and
mosaicml-streaming 0.13.0 pins numpy<2.2, transformers<5 and torchvision (installed without its
pins: its MDS reader and writer run on ours), so they live in a consumer venv of their own
(built once, cached under CODEMIX_CACHE) that sees this project's packages after its own. There,
Megatron's BlendedMegatronDatasetBuilder builds the blended GPT dataset from an exported recipe's
arguments, OLMo-core's NumpyFSLDatasetConfig.from_dict builds and prepares the source mixture
from its config, and Streaming's StreamingDataset iterates an epoch of the llm-foundry loader's
streams; each reports the share of samples each source supplied, compared with the recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from codemix_search.data.dataset import load_split, materialize
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout
from tests.helpers import REPO
from tests.integration.consumer_env import (
    ENV,
    check_shares,
    consume,
    consumer_venv,
    export,
    run_in,
)


def first_document(tiny_data, source: str) -> list[int]:
    local = materialize(tiny_data.uri, tiny_data.manifest)
    shard = np.asarray(load_split(local, tiny_data.manifest, source, "train"))
    end = int(np.flatnonzero(shard == tiny_data.manifest.eos_id)[0]) + 1
    return shard[:end].tolist()


def test_megatron_builds_the_recipes_blend_in_its_proportions(
    run, consumer_python, tiny_data, tmp_path
):
    out = export(run, "megatron")
    tokenizer = out.read_json("tokenizer/tokenizer_config.json")
    assert tokenizer["tokenizer_class"] == "PreTrainedTokenizerFast"  # transformers 4.x and 5.x
    worst = 0.0
    for name in sorted(n for n in out.listdir() if n.endswith(".json")):
        exported = out.read_json(name)
        read = consume(consumer_python, "read_megatron.py", out.file(name), str(tmp_path / name))
        worst = max(worst, check_shares(name, exported, read, "samples"))
        for phase, spec in exported["phases"].items():
            assert read[phase]["samples"] == spec["train_samples"]
        first_source = next(iter(exported["phases"]["pretrain"]["weights"]))
        assert read["first_document"] == first_document(tiny_data, first_source)
    print(f"megatron: largest share deviation {worst:.4f}")


def test_megatrons_own_writer_and_ours_write_the_same_bytes(consumer_python, tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from codemix_search.export import trainer_writers as t\n"
        "rng = np.random.default_rng(0)\n"
        "tokens = rng.integers(1, 2000, 5000).astype(np.uint16); tokens[::97] = 0\n"
        "t.write_megatron(tokens, 0, 2048, sys.argv[1] + '/theirs')\n"
        "t._write_megatron_numpy(tokens, t.document_lengths(tokens, 0), sys.argv[1] + '/ours')\n"
        "import megatron.core.datasets.indexed_dataset as m; print(m.__file__)\n"
    )
    out = run_in(consumer_python, ["-c", script, str(tmp_path)], cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    for ext in (".bin", ".idx"):
        theirs = (tmp_path / f"theirs{ext}").read_bytes()
        assert theirs == (tmp_path / f"ours{ext}").read_bytes(), ext


def test_olmo_core_builds_the_recipes_mixture_in_its_proportions(run, consumer_python, tiny_data):
    out = export(run, "olmo_core")
    vocab = tiny_data.manifest.vocab_size
    worst = 0.0
    for name in sorted(n for n in out.listdir() if n.endswith(".json")):
        exported = out.read_json(name)
        read = consume(consumer_python, "read_olmo.py", out.file(name))
        worst = max(worst, check_shares(name, exported, read, "instances"))
        for got in (read[phase] for phase in exported["phases"]):
            # Real tokens, not a .npy header read as 64 ids: every id in the vocabulary and the
            # instance a run of the source's own shard.
            first = got["first_tokens"]
            assert len(first) == exported["seq_len"] and max(first) < vocab
            source = os.path.basename(os.path.dirname(got["first_path"]))
            local = materialize(tiny_data.uri, tiny_data.manifest)
            shard = np.asarray(load_split(local, tiny_data.manifest, source, "train"))
            assert np.asarray(first, dtype=shard.dtype).tobytes() in shard.tobytes()
    print(f"olmo-core: largest share deviation {worst:.4f}")


def test_streaming_iterates_the_llm_foundry_loaders_streams_in_the_recipes_proportions(
    run, consumer_python
):
    # Exported where mosaicml-streaming is installed (its own MDSWriter writes the shards).
    out = export(run, "mosaic", python=consumer_python)
    worst = 0.0
    for name in sorted(n for n in out.listdir() if n.endswith(".json")):
        exported = out.read_json(name)
        read = consume(consumer_python, "read_mosaic.py", out.file(name))
        worst = max(worst, check_shares(name, exported, read, "samples"))
        for phase, spec in exported["phases"].items():
            got = read[phase]
            assert got["samples"] == spec["train_samples"] and got["lengths"] == [got["seq_len"]]
        loader = exported["phases"]["pretrain"]["llm_foundry"]
        assert loader["train_loader"]["name"] == "text"
        assert loader["max_duration"].endswith("tok")
    print(f"mosaic: largest share deviation {worst:.4f}")


def test_mosaic_without_streaming_installed_is_one_line(run):
    args = ["export", run.uri, "--format", "mosaic", "--out", run.file("elsewhere")]
    out = run_in(sys.executable, ["-m", "codemix_search.cli", *args], timeout=120)
    assert out.returncode == 2 and "pip install mosaicml-streaming" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not run.exists("elsewhere")


def test_export_refuses_a_run_without_recipes_in_one_line(tmp_path):
    folder = Folder(str(tmp_path))
    folder.write_yaml(RunLayout.SPACE, {})
    folder.write_text(RunLayout.RECORDS, "")
    folder.write_json(RunLayout.RUN, {"name": "r", "data": {"uri": str(tmp_path)}})
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "codemix_search.cli",
            "export",
            str(tmp_path),
            "--format",
            "megatron",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert "recipes" in out.stderr and not (tmp_path / "exports").exists()


TRANSFORMERS_4 = "transformers==4.57.*"  # what llm-foundry and Streaming pin (<5)


@pytest.fixture(scope="module")
def transformers4_python():
    """transformers 4.x (with its tokenizers and huggingface_hub) before ours."""
    name = TRANSFORMERS_4.replace("=", "").strip("*.")
    return consumer_venv(name, [TRANSFORMERS_4], see_checkout=False)


def test_a_checkpoint_loads_and_computes_the_same_in_transformers_4_and_5(
    tiny_data, transformers4_python, tmp_path
):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codemix_search.train.checkpoint import save_checkpoint
    from codemix_search.train.model import build_model

    local = materialize(tiny_data.uri, tiny_data.manifest)
    model = build_model("tiny", tiny_data.manifest.vocab_size, 64, seed=0)
    opt = torch.optim.AdamW(model.parameters())
    save_checkpoint(str(tmp_path), model, opt, {"step": 1}, os.path.join(local, "tokenizer"))
    text = "def add(a, b):\n    return a + b"
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    with torch.no_grad():
        ours = AutoModelForCausalLM.from_pretrained(str(tmp_path))(
            input_ids=tok(text, return_tensors="pt").input_ids
        ).logits[0]
    script = (
        "import json, sys, torch, transformers\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "model = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()\n"
        "ids = tok(sys.argv[2], return_tensors='pt').input_ids\n"
        "with torch.no_grad():\n"
        "    logits = model(input_ids=ids).logits[0]\n"
        "print(json.dumps({'version': transformers.__version__, 'class': type(tok).__name__,\n"
        "                  'ids': ids[0].tolist(), 'logits': logits.tolist()}))\n"
    )
    out = subprocess.run(
        [transformers4_python, "-c", script, str(tmp_path), text],
        capture_output=True, text=True, timeout=300, env=ENV, cwd=str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert theirs["version"].startswith("4.") and transformers.__version__.startswith("5.")
    assert theirs["class"] == "PreTrainedTokenizerFast"
    assert theirs["ids"] == tok(text).input_ids
    diff = (torch.tensor(theirs["logits"]) - ours).abs().max().item()
    assert diff < 1e-4, diff
