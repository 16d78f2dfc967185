"""Gold bits-per-byte counted on exactly the string lm-eval scores; noise, SNR and MDD maths."""

from __future__ import annotations

import math

import pytest

from codemix_search.core import bpb, noise


def test_scored_string_moves_the_contexts_trailing_whitespace():
    # lm-eval scores "Paris" after "The capital of France is" as " Paris" (delimiter), and a
    # context ending in "\n" hands that newline to the continuation too.
    assert bpb.scored_continuation("The capital of France is", " Paris") == " Paris"
    assert bpb.scored_continuation("def f():\n    ", "return 1") == "\n    return 1"
    assert bpb.scored_continuation("x = 1\n", " y") == "\n y"
    assert bpb.scored_bytes("Q: é?\nA: ", " café") == len(
        "  café".encode()
    )  # 2 spaces, é = 2 bytes


def test_multiple_choice_gold_bpb_by_hand():
    # Hand example: gold " Paris" (6 bytes) at log p = -3 nats -> 3 / ln2 / 6 = 0.7213 bits/byte.
    lls = [(-5.0, False), (-3.0, True), (-4.0, False)]
    out = bpb.multiple_choice("The capital of France is", ["Lyon", "Paris", "Nice"], 1, lls)
    ll, n_bytes = out["gold_bpb"]
    assert (ll, n_bytes) == (-3.0, 6)
    assert bpb.item_bpb(ll, n_bytes) == pytest.approx(3 / math.log(2) / 6)
    assert out["acc"] == 1.0 and out["acc_norm"] == 1.0  # -3/5 beats -5/4 and -4/4
    gold, probs = out["brier_score"]
    assert gold == 1 and sum(probs) == pytest.approx(1) and probs[1] == max(probs)
    # Counting only the answer's 5 bytes would have inflated BPB by 20%.
    assert 3 / math.log(2) / 5 / bpb.item_bpb(ll, n_bytes) == pytest.approx(1.2)


def test_reference_scores_without_a_delimiter():
    out = bpb.reference("def add(a, b):\n", "    return a + b\n", [(-10.0, False)])
    assert out["gold_bpb"] == (-10.0, len("\n    return a + b\n"))
    assert out["continuation_likelihood"] == -10.0


def test_mdd_and_paired_se():
    assert noise.mdd(1.0) == pytest.approx(2.8016, abs=1e-3)
    a, b = [1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 0, 0]
    # differences 0,0,1,0,0,1: mean 1/3, sd 0.5164 -> SE 0.2108
    assert noise.paired_se_mean(a, b) == pytest.approx(0.5164 / math.sqrt(6), rel=1e-3)
    se = noise.paired_se_bpb([2.0, 3.0, 4.0], [1.0, 3.0, 3.0], [10, 10, 10])
    assert se == pytest.approx(math.sqrt(3) * 0.57735 / 30, rel=1e-3)
    assert noise.combine_se([0.3, 0.4]) == pytest.approx(0.25)


def test_snr_verdicts_and_pooled_seed_noise():
    assert noise.snr([1.0, 1.3, 1.6], 0.1) == pytest.approx(6.0)
    assert noise.verdict(7.2, 4).startswith("ranks mixtures: SNR 7.2 > 3.6")
    assert noise.verdict(3.5, 4).startswith("not resolved: SNR 3.5 <= 3.6")
    # the same SNR that ranks 4 trials does not rank 200: the null's range grows with n
    assert noise.verdict(6.0, 4).startswith("ranks") and noise.verdict(6.0, 200).startswith("not")
    assert noise.verdict(9.0, 4, seed_measured=False).startswith("seed noise not measured")
    assert noise.snr([1.0], 0.1) is None and "not measured" in noise.verdict(None)
    pooled = noise.pooled_std({"a": [1.0, 1.2], "b": [2.0, 2.2, 2.4], "c": [5.0]})
    assert pooled == pytest.approx(math.sqrt((0.02 + 0.08) / 3))


def test_thresholds_are_the_studentized_range_quantiles():
    # Tukey's table (alpha 0.05): q(3, 10) = 3.877, q(5, 20) = 4.232, q(10, inf) = 4.474
    assert noise.range_threshold(3, 10) == pytest.approx(3.877, abs=2e-3)
    assert noise.range_threshold(5, 20) == pytest.approx(4.232, abs=2e-3)
    assert noise.range_threshold(10) == pytest.approx(4.474, abs=2e-3)
    assert noise.range_threshold(1) == math.inf
    # between tabulated dofs: close to the exact quantile
    from scipy.stats import studentized_range

    exact = studentized_range.ppf(0.95, 7, 9.3)
    assert noise.range_threshold(7, 9.3) == pytest.approx(exact, rel=2e-3)


def test_combined_noise_and_its_dof():
    assert noise.combined_noise(None, None, None) == (None, noise.EXACT_DF)
    sigma, df = noise.combined_noise(0.3, 4, 0.4)
    assert sigma == pytest.approx(0.5) and df == 4  # the seed estimate's dof: conservative
    assert noise.combined_noise(None, None, 0.2) == (0.2, noise.EXACT_DF)
    assert noise.combined_noise(0.2, 6, None) == (pytest.approx(0.2), pytest.approx(6))


def test_ties_are_a_test_on_the_difference():
    pts = [[1.00, 2.00], [1.10, 2.01], [1.50, 2.00]]
    # sigma 0.05: a difference is significant beyond 1.96 x sqrt 2 x 0.05 = 0.139
    assert noise.differ(1.0, 1.14, 0.05) and not noise.differ(1.0, 1.13, 0.05)
    assert noise.ties(pts, [0.05, 0.05]) == [[1], [0], []]
    assert noise.ties(pts, [None, 0.05]) == [[], [], []]
    # the old rule (within the 80%-power MDD, 2.8 x sqrt 2 x sigma = 0.198) would tie 0.15 apart
    assert noise.ties([[1.0], [1.15]], [0.05]) == [[], []]
