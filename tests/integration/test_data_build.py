"""The data build: shards + manifest from declared sources; reuse, corruption, decontamination,
the Ray Data engine (byte-identical to the local one) and S3 end to end."""

import json
import os
import random

import numpy as np
import pytest

from codemix_search.config.sources import parse_sources
from codemix_search.data.build import prepare_data
from codemix_search.data.dataset import load_split, materialize, verify_shards
from codemix_search.data.stages import contaminated, eval_index
from codemix_search.errors import ConfigError, DataError
from codemix_search.storage.folder import Folder

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split()
QUOTE = "the quick brown fox jumps over the lazy dog near the quiet river bank today"


def corpus(tmp_path, n=120):
    rng = random.Random(0)
    text = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(n)]
    text[5] = "some words before " + QUOTE + " and after"  # quotes an eval item: must go
    text.append(text[0])  # an exact duplicate: must go
    code = [f"def f{i}(x):\n    return x * {i} + {rng.randint(0, 9)}\n" for i in range(n)]
    for name, docs in (("web", text), ("gh", code)):
        with open(tmp_path / f"{name}.jsonl", "w") as f:
            for d in docs:
                f.write(json.dumps({"text": d}) + "\n")
    with open(tmp_path / "eval.jsonl", "w") as f:
        f.write(json.dumps({"text": QUOTE}) + "\n")
    raw = {
        "tokenizer": {"vocab_size": 300},
        "validation_share": 0.1,
        "decontaminate": "eval.jsonl",
        "sources": [
            {"name": "web", "kind": "text", "uri": "web.jsonl"},
            {"name": "gh", "kind": "code", "uri": "gh.jsonl"},
        ],
    }
    return raw


def cfg_of(raw, tmp_path):
    return parse_sources(raw, str(tmp_path / "sources.yaml"), str(tmp_path))


def test_build_manifest_and_shards(tmp_path):
    cfg = cfg_of(corpus(tmp_path), tmp_path)
    ref = prepare_data(cfg, Folder(str(tmp_path / "store")), engine="local")
    m = ref.manifest
    assert set(m.sources) == {"web", "gh"}
    web = m.sources["web"]
    assert web["documents_read"] == 121
    assert web["duplicates_removed"] == 1 and web["contaminated_removed"] == 1
    assert m.sources["gh"]["contaminated_removed"] == 0
    tr, va = web["splits"]["train"], web["splits"]["val"]
    assert tr["documents"] + va["documents"] == 119 and va["documents"] > 0
    arr = load_split(ref.uri, m, "web", "train")
    assert arr.dtype == np.uint16 and arr.size == tr["tokens"]
    assert (arr == m.eos_id).sum() == tr["documents"]  # one end-of-text per document
    assert m.tokenizer_sha256 and m.vocab_size <= 300
    assert os.path.exists(os.path.join(ref.uri, "_SUCCESS"))


def test_rerun_is_a_noop_and_a_changed_input_rebuilds(tmp_path):
    cfg = cfg_of(corpus(tmp_path), tmp_path)
    store = Folder(str(tmp_path / "store"))
    first = prepare_data(cfg, store, engine="local")
    shard = os.path.join(first.uri, first.manifest.sources["web"]["splits"]["train"]["file"])
    mtime = os.stat(shard).st_mtime_ns
    again = prepare_data(cfg, store, engine="local")
    assert again.uri == first.uri and os.stat(shard).st_mtime_ns == mtime
    with open(tmp_path / "gh.jsonl", "a") as f:
        f.write(json.dumps({"text": "def g():\n    pass\n"}) + "\n")
    changed = prepare_data(cfg, store, engine="local")
    assert changed.uri != first.uri
    assert changed.manifest.sources["gh"]["documents_read"] == 121


def test_corrupt_and_truncated_shards_are_detected(tmp_path):
    cfg = cfg_of(corpus(tmp_path), tmp_path)
    store = Folder(str(tmp_path / "store"))
    ref = prepare_data(cfg, store, engine="local")
    entry = ref.manifest.sources["gh"]["splits"]["train"]
    path = os.path.join(ref.uri, entry["file"])
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0xFF  # same size, one flipped byte
    open(path, "wb").write(bytes(data))
    with pytest.raises(DataError, match="sha256.*corrupt"):
        verify_shards(ref.uri, ref.manifest)
    with pytest.raises(DataError, match="corrupt"):
        prepare_data(cfg, store, engine="local")  # reuse checks before handing it out
    open(path, "wb").write(bytes(data[:-100]))
    with pytest.raises(DataError, match="truncated"):
        load_split(ref.uri, ref.manifest, "gh", "train")


def test_decontamination_matches_ngrams_and_short_items():
    index = eval_index([QUOTE, "capital of atlantis is poseidonia"])
    assert contaminated("x y " + QUOTE.upper() + " z", index)
    assert contaminated("they said the Capital of Atlantis is Poseidonia, once", index)
    assert not contaminated("the quick brown fox jumps over the lazy cat", index)
    assert not contaminated("", index) and not contaminated("anything", {})


def test_a_source_too_small_to_validate_is_an_error(tmp_path):
    raw = corpus(tmp_path)
    with open(tmp_path / "one.jsonl", "w") as f:
        f.write(json.dumps({"text": "a single document"}) + "\n")
    raw["sources"].append({"name": "one", "kind": "text", "uri": "one.jsonl"})
    with pytest.raises(ConfigError, match="sources.one.*validate"):
        prepare_data(cfg_of(raw, tmp_path), Folder(str(tmp_path / "store")), engine="local")
    assert not os.path.exists(tmp_path / "store" / "_data")


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=str(tmp_path_factory.mktemp("ray", numbered=True)).replace("/pytest-of-", "/p"),
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_data_engine_is_byte_identical_to_local(tmp_path, ray_session):
    cfg = cfg_of(corpus(tmp_path), tmp_path)
    local = prepare_data(cfg, Folder(str(tmp_path / "a")), engine="local").manifest
    os.environ["CODEMIX_CACHE"] += "-ray"  # a separate cache, so this really builds
    try:
        ray_m = prepare_data(cfg, Folder(str(tmp_path / "b")), engine="ray").manifest
    finally:
        os.environ["CODEMIX_CACHE"] = os.environ["CODEMIX_CACHE"][: -len("-ray")]
    assert ray_m.engine == "ray" and local.engine == "local"
    for name in ("web", "gh"):
        for split in ("train", "val"):
            assert ray_m.sources[name]["splits"][split] == local.sources[name]["splits"][split]
        assert (
            ray_m.sources[name]["contaminated_removed"]
            == local.sources[name]["contaminated_removed"]
        )


def test_s3_sources_and_storage_end_to_end(tmp_path, s3_endpoint):
    import s3fs

    from tests.helpers import make_bucket

    bucket = make_bucket("corpus")
    store_bucket = make_bucket("runs")
    raw = corpus(tmp_path)
    fs = s3fs.S3FileSystem()
    for name in ("web.jsonl", "gh.jsonl", "eval.jsonl"):
        fs.put(str(tmp_path / name), f"{bucket}/in/{name}")
    raw["decontaminate"] = f"{bucket}/in/eval.jsonl"
    raw["sources"] = [
        {"name": "web", "kind": "text", "uri": f"{bucket}/in/web*.jsonl"},
        {"name": "gh", "kind": "code", "uri": f"{bucket}/in/gh.jsonl"},
    ]
    cfg = cfg_of(raw, tmp_path)
    ref = prepare_data(cfg, Folder(f"{store_bucket}/r"), engine="local")
    assert ref.uri.startswith("s3://runs/r/_data/")
    assert fs.exists(ref.uri + "/_SUCCESS") and fs.exists(ref.uri + "/shards/web.train.npy")
    assert ref.manifest.sources["web"]["contaminated_removed"] == 1
    local = materialize(ref.uri, ref.manifest)  # downloaded and checked
    assert load_split(local, ref.manifest, "gh", "val").size > 0
    # A corrupt object in the bucket is caught when a fresh machine downloads it.
    entry = ref.manifest.sources["gh"]["splits"]["train"]
    blob = bytearray(fs.cat(f"{ref.uri}/{entry['file']}"))
    blob[-1] ^= 0xFF
    fs.pipe(f"{ref.uri}/{entry['file']}", bytes(blob))
    import shutil

    shutil.rmtree(local)
    with pytest.raises(DataError, match="corrupt"):
        materialize(ref.uri, ref.manifest)
