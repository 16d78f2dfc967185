import random

import pytest

from codemix_search.ranking import dominates, pareto_front, rank_order


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
