"""The calibration table's maths on hand-made replicas, and the K x N space it trains."""

from __future__ import annotations

import math

import pytest

from codemix_search.analysis.calibrate import calibration_space, reference_points, seed_table
from codemix_search.config.load import load_space, parse_space
from codemix_search.core.records import TrialRecord
from tests.helpers import TINY


def test_seed_table_by_hand():
    space = load_space(TINY)
    rows = []
    for mix, values in (("a", (1.0, 1.2)), ("b", (2.0, 2.4))):
        for v in values:
            rows.append(
                TrialRecord(
                    f"{mix}{v}", "finished", mixture_id=mix,
                    objectives={"nl_reasoning": v, "code": v},
                )
            )  # fmt: skip
    rows.append(TrialRecord("c", "pruned", mixture_id="c"))
    t = seed_table(rows, space)["nl_reasoning"]
    means = {k.split("/")[0]: v for k, v in t["means"].items()}
    assert means == {"a": pytest.approx(1.1), "b": pytest.approx(2.2)}
    assert t["seed_df"] == 2
    pooled = math.sqrt((0.02 + 0.08) / 2)  # variances 0.02 and 0.08, 1 dof each
    assert t["seed_noise"] == pytest.approx(pooled) and t["replicas"] == 4
    assert t["snr"] == pytest.approx(1.1 / pooled) and t["signal"] == pytest.approx(1.1)
    assert t["mdd"] == pytest.approx(2.8016 * math.sqrt(2) * pooled, rel=1e-3)


def test_replicas_are_settings_alike_but_the_seed_not_one_mixture_under_two_inits():
    space = load_space(TINY)
    rows = [
        TrialRecord(f"{init}{s}", "finished", mixture_id="m",
                    config={"init": init, "seed_offset": s},
                    objectives={"nl_reasoning": v, "code": v})
        for init, s, v in (("text", 0, 1.0), ("text", 1, 1.1), ("balanced", 0, 2.0),
                           ("balanced", 1, 2.1))
    ]  # fmt: skip
    t = seed_table(rows, space)["nl_reasoning"]
    # two mixtures (one per init), 0.1 apart in each: not one mixture whose "seeds" span 1.1
    assert t["mixtures"] == 2 and t["seed_noise"] == pytest.approx(math.sqrt(0.005))


def test_the_calibration_space_trains_k_mixtures_times_n_seeds_to_the_end():
    space = load_space(TINY)
    points = reference_points(space, 3)
    assert len(points) == 3 and points[0]["code_fraction"] == 0.0  # the baseline first
    cal = parse_space(calibration_space(space, 3, 2), "cal.yaml")
    assert cal.budget.samples == 6 and cal.early_stopping.scheduler == "none"
    offsets = sorted(p["seed_offset"] for p in cal.points_to_evaluate)
    assert offsets == [0, 0, 0, 1, 1, 1]
    assert len({cal.mixture(p).id for p in cal.points_to_evaluate}) == 3
