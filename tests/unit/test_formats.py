"""Each exporter's output has the shape its trainer reads, with the recipe's weights."""

import pytest

from codemix_search.export.formats import (
    EXPORTERS,
    recipe_weights,
    to_megatron,
    to_mosaic_streams,
    to_olmo_core,
)

RECIPE = {
    "trial_id": "t1",
    "seed": 3,
    "training": {"tokens": 1_000_000},
    "phases": {
        "pretrain": {
            "token_share": 0.8,
            "weights": {"text": 0.5, "code": 0.3, "commits": 0.2, "synthetic_code": 0.0},
        },
        "cooldown": {
            "token_share": 0.2,
            "weights": {"text": 0.8, "code": 0.2, "commits": 0.0, "synthetic_code": 0.0},
        },
    },
}
PATHS = {
    "text": "s3://c/text",
    "code": "s3://c/code",
    "commits": "/data/commits",
    "synthetic_code": "/data/syn",
}


def test_zero_weights_are_dropped_and_the_rest_sum_to_one():
    w = recipe_weights(RECIPE, "cooldown")
    assert w == {"code": 0.2, "text": 0.8}


def test_megatron_blend():
    out = to_megatron(RECIPE, PATHS)
    pre = out["phases"]["pretrain"]
    assert pre["data_path"] == [0.3, "s3://c/code", 0.2, "/data/commits", 0.5, "s3://c/text"]
    assert pre["tokens"] == 800_000 and out["phases"]["cooldown"]["tokens"] == 200_000
    assert pre["cli"].startswith("--data-path 0.3 s3://c/code 0.2 /data/commits")


def test_mosaic_streams():
    streams = to_mosaic_streams(RECIPE, PATHS)["phases"]["cooldown"]["train_loader"]["dataset"][
        "streams"
    ]
    assert set(streams) == {"text", "code"}
    assert streams["text"]["proportion"] == 0.8 and streams["text"]["remote"] == "s3://c/text"
    assert sum(s["proportion"] for s in streams.values()) == pytest.approx(1.0)


def test_olmo_core_source_mixture():
    phase = to_olmo_core(RECIPE, PATHS)["phases"]["pretrain"]
    assert phase["requested_tokens"] == 800_000 and phase["seed"] == 3
    ratios = {c["source_name"]: c["target_ratio"] for c in phase["source_configs"]}
    assert ratios == {"commits": 0.2, "code": 0.3, "text": 0.5}
    assert all(c["paths"] and c["max_repetition_ratio"] == 4.0 for c in phase["source_configs"])


def test_missing_path_is_a_clear_error():
    for fn in EXPORTERS.values():
        with pytest.raises(ValueError, match="no path for source 'text'"):
            fn(RECIPE, {k: v for k, v in PATHS.items() if k != "text"})
