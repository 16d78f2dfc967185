import random

import pytest

from codemix_search.core.ranking import dominates, pareto_front, rank_order


def brute_front(values, modes):
    return [
        i
        for i, v in enumerate(values)
        if not any(dominates(w, v, modes) for j, w in enumerate(values) if j != i)
    ]


def test_simple_front_max_max():
    values = [[0.1, 0.9], [0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [0.9, 0.05]]
    assert pareto_front(values, ["max", "max"]) == [0, 1, 3]


def test_min_and_max_mixed():
    values = [[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]]
    # minimise first, maximise second: [0.5,0.5] vs [2,2]: neither dominates; [1,1] dominated by none
    assert pareto_front(values, ["min", "max"]) == [0, 1, 2]
    assert pareto_front(values, ["min", "min"]) == [2]


@pytest.mark.parametrize("seed", range(20))
def test_matches_brute_force(seed):
    rng = random.Random(seed)
    modes = [rng.choice(["min", "max"]) for _ in range(rng.randint(2, 3))]
    values = [[round(rng.random(), 1) for _ in modes] for _ in range(rng.randint(1, 25))]
    assert pareto_front(values, modes) == brute_front(values, modes)


def test_non_finite_rows_never_on_front():
    values = [[float("nan"), 1.0], [0.2, 0.2], [float("inf"), 5.0]]
    assert pareto_front(values, ["max", "max"]) == [1]


def test_rank_order_puts_front_first_and_keeps_everyone():
    values = [[0.1, 0.1], [0.9, 0.9], [0.5, 0.6], [0.6, 0.5]]
    order = rank_order(values, ["max", "max"])
    assert order[0] == 1 and sorted(order) == [0, 1, 2, 3] and order[-1] == 0


def test_hypervolume_matches_the_rectangles_of_a_2d_front():
    from codemix_search.core.ranking import hypervolume

    # maximise both; reference (0, 0): union of [0,1]x[0,3], [0,2]x[0,2], [0,3]x[0,1] = 6
    pts = [[1, 3], [2, 2], [3, 1], [1, 1]]
    assert hypervolume(pts, ["max", "max"], [0, 0]) == pytest.approx(6.0)
    # mixed directions: minimise the first (reference 4), maximise the second (reference 0)
    assert hypervolume([[1, 3], [2, 4]], ["min", "max"], [4, 0]) == pytest.approx(3 * 3 + 2 * 1)
    assert hypervolume([[5, 5]], ["min", "max"], [4, 0]) == 0.0  # beyond the reference


def test_hypervolume_3d_and_default_reference_and_nan():
    from codemix_search.core.ranking import default_reference, hypervolume

    assert hypervolume([[1, 1, 1]], ["max"] * 3, [0, 0, 0]) == pytest.approx(1.0)
    # 1 + 2*0.5*0.5 - overlap 1*0.5*0.5
    assert hypervolume([[1, 1, 1], [2, 0.5, 0.5]], ["max"] * 3, [0, 0, 0]) == pytest.approx(1.25)
    ref = default_reference([[0.2, 5.0], [0.4, 3.0]], ["max", "min"])
    assert ref == pytest.approx([0.18, 5.2])
    assert hypervolume([[float("nan"), 1.0]], ["max", "max"]) == 0.0


def test_knee_and_weighted_pick():
    from codemix_search.core.ranking import knee_index, weighted_pick

    pts = [[0.0, 1.0], [0.6, 0.6], [1.0, 0.0], [0.2, 0.2]]
    assert knee_index(pts, ["max", "max"]) == 1
    assert weighted_pick(pts, ["max", "max"], [1, 0]) == 2
    assert weighted_pick(pts, ["max", "max"], [0, 1]) == 0
    with pytest.raises(ValueError):
        weighted_pick(pts, ["max", "max"], [0, 0])
