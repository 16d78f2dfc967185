"""The trainer-data writers' maths and bytes (the consumers' own libraries read them in
tests/integration/test_trainer_exports.py)."""

import struct

import numpy as np
import pytest

from codemix_search.export import trainer_data as t
from codemix_search.export import trainer_writers as w

RECIPE = {
    "trial_id": "t1",
    "mixture_id": "m",
    "seed": 3,
    "training": {"tokens": 10_000, "batch_size": 4, "seq_len": 64},
    "phases": {
        "pretrain": {"token_share": 0.8, "weights": {"code": 0.25, "text": 0.75, "zero": 0.0}},
        "cooldown": {"token_share": 0.2, "weights": {"code": 0.5, "text": 0.5}},
    },
}


def test_documents_end_at_each_end_of_text_and_a_tail_is_one_more():
    assert w.document_lengths(np.array([5, 0, 6, 7, 0]), 0).tolist() == [2, 3]
    assert w.document_lengths(np.array([5, 0, 6, 7]), 0).tolist() == [2, 2]
    assert w.document_lengths(np.array([5, 6]), 0).tolist() == [2]


def test_megatron_index_holds_lengths_pointers_and_one_document_per_sequence(tmp_path):
    tokens = np.array([4, 9, 0, 7, 0, 3, 3, 3], dtype=np.uint16)
    lengths = w.document_lengths(tokens, 0)
    w._write_megatron_numpy(tokens, lengths, str(tmp_path / "d"))
    assert (tmp_path / "d.bin").read_bytes() == tokens.tobytes()
    idx = (tmp_path / "d.idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    version, code, seqs, docs = struct.unpack("<QBQQ", idx[9:34])
    assert (version, code, seqs, docs) == (1, 8, 3, 4)  # 8: uint16 in Megatron's DType
    body = np.frombuffer(idx[34 : 34 + 4 * seqs], dtype=np.int32)
    pointers = np.frombuffer(idx[34 + 4 * seqs : 34 + 12 * seqs], dtype=np.int64)
    assert body.tolist() == [3, 2, 3] and pointers.tolist() == [0, 6, 10]
    assert np.frombuffer(idx[34 + 12 * seqs :], dtype=np.int64).tolist() == [0, 1, 2, 3]


def test_megatron_arguments_carry_the_blend_split_and_samples():
    out = t.megatron_recipe(RECIPE, {"code": "/d/code", "text": "/d/text"}, "/tok", 64)
    args = out["phases"]["pretrain"]["args"]
    assert args[:5] == ["--data-path", "0.250000", "/d/code", "0.750000", "/d/text"]
    assert args[args.index("--train-samples") + 1] == str(125)  # 8,000 tokens / 64
    assert args[args.index("--split") + 1] == "100,0,0"
    assert out["phases"]["cooldown"]["train_samples"] == 32  # ceil(2,000 / 64)


def test_olmo_config_repeats_a_small_source_just_enough():
    out = t.olmo_recipe(
        RECIPE,
        {"code": "c.npy", "text": "t.npy"},
        {"code": 500, "text": 100_000},
        {"vocab_size": 10, "eos_token_id": 0, "pad_token_id": 1},
        "uint16",
        64,
        "/w",
    )
    mix = out["phases"]["pretrain"]["dataset"]["source_mixture_config"]
    by_name = {s["source_name"]: s for s in mix["source_list"]["sources"]}
    # 8,000 tokens asked as whole global batches of 256 (OLMo-core trains whole steps and
    # spreads a partial batch evenly over the sources): 32 batches, 8,192 tokens. code needs
    # 0.25 * 8,192 = 2,048 tokens of 500: repeated 4.1x (tenths, up); text needs no repetition.
    assert by_name["code"]["max_repetition_ratio"] == pytest.approx(4.1)
    assert by_name["text"]["max_repetition_ratio"] == 1.0
    assert sum(s["target_ratio"] for s in by_name.values()) == pytest.approx(1.0)
    assert mix["global_batch_size"] == 4 * 64 and mix["requested_tokens"] == 8192


def test_a_checkpoint_link_is_relative_to_the_run_also_from_a_copied_run():
    from codemix_search.export.recipes import _in_run

    ckpt = "/data/runs/r1/train/train-t1/checkpoint_000003"
    assert _in_run(ckpt, "/data/runs/r1", "r1") == "train/train-t1/checkpoint_000003"
    # Records written at /data/runs/r1, exported again from a copy at /home/u/r1-copy.
    assert _in_run(ckpt, "/home/u/r1-copy", "r1") == "train/train-t1/checkpoint_000003"
    assert _in_run("s3://b/x/r1/train/c", "s3://b/x/r1/", "r1") == "train/c"
    assert _in_run("/elsewhere/model", "/data/runs/r1", "r1") is None
    assert _in_run(None, "/data/runs/r1", "r1") is None
    from codemix_search.export.recipes import _here

    # the absolute link of a copy points into the copy, not the original run
    assert _here(ckpt, "/home/u/r1-copy", "r1") == (
        "/home/u/r1-copy/train/train-t1/checkpoint_000003"
    )
    assert _here("/elsewhere/model", "/home/u/r1-copy", "r1") == "/elsewhere/model"
