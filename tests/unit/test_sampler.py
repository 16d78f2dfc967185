import numpy as np
import pytest

from codemix_search.data.sampler import PhaseSampler, exact_counts


def arrays():
    # Each source's tokens carry its identity so a sequence's source can be read back.
    return {name: np.full(5000, i, dtype=np.uint16) for i, name in enumerate(["a", "b", "c"])}


def test_exact_counts_sum_and_bound():
    w = {"a": 0.333, "b": 0.333, "c": 0.334}
    c = exact_counts(w, 1000)
    assert sum(c.values()) == 1000
    assert all(abs(c[k] - w[k] * 1000) < 1 for k in w)


def test_shares_match_weights_within_one_sequence():
    w = {"a": 0.6, "b": 0.3, "c": 0.1}
    s = PhaseSampler(arrays(), w, steps=25, batch_size=8, seq_len=16, seed=1)
    seen = np.concatenate([s.batch(k)[:, 0] for k in range(25)])
    for i, name in enumerate("abc"):
        assert abs((seen == i).sum() - w[name] * 200) <= 1


def test_deterministic_and_resumable():
    w = {"a": 0.5, "b": 0.5}
    s1 = PhaseSampler(arrays(), w, 10, 4, 16, seed=7)
    s2 = PhaseSampler(arrays(), w, 10, 4, 16, seed=7)
    assert np.array_equal(s1.batch(6), s2.batch(6))
    s3 = PhaseSampler(arrays(), w, 10, 4, 16, seed=8)
    assert not np.array_equal(s1.starts, s3.starts)


def test_ranks_are_disjoint_and_cover_the_batch():
    w = {"a": 0.5, "b": 0.25, "c": 0.25}
    full = PhaseSampler(arrays(), w, 5, 8, 16, seed=3)
    r0 = PhaseSampler(arrays(), w, 5, 8, 16, seed=3, rank=0, world=2)
    r1 = PhaseSampler(arrays(), w, 5, 8, 16, seed=3, rank=1, world=2)
    for k in range(5):
        both = np.concatenate([r0.batch(k), r1.batch(k)])
        assert sorted(map(tuple, both)) == sorted(map(tuple, full.batch(k)))
        assert sorted(r0.sources_of(k) + r1.sources_of(k)) == sorted(full.sources_of(k))


def test_zero_weight_source_is_never_drawn():
    s = PhaseSampler(arrays(), {"a": 1.0, "b": 0.0}, 5, 4, 16, seed=0)
    assert set(s.counts) == {"a"}


def test_too_small_source_rejected():
    with pytest.raises(ValueError, match="fewer than one sequence"):
        PhaseSampler({"a": np.zeros(10, np.uint16)}, {"a": 1.0}, 2, 2, 16, seed=0)


def positions():
    # Token i of each source is i (plus an offset per source), so a window's start is readable.
    return {n: np.arange(k * 10_000, k * 10_000 + 1000, dtype=np.int64) for k, n in enumerate("ab")}


def test_no_window_repeats_within_an_epoch_and_epochs_are_exact():
    # 1000 tokens / 16 = 62 windows per source; 60 sequences of "a" stay inside one epoch.
    s = PhaseSampler(positions(), {"a": 0.5, "b": 0.5}, steps=15, batch_size=8, seq_len=16, seed=2)
    firsts = np.concatenate([s.batch(k)[:, 0] for k in range(15)])
    a = firsts[firsts < 10_000]
    assert len(a) == 60 and len(set(a.tolist())) == 60
    assert all((x - a[0]) % 16 == 0 for x in a)  # aligned windows, no overlap
    assert s.epochs()["a"] == pytest.approx(60 * 16 / 1000)


def test_second_epoch_cuts_elsewhere_and_cooldown_continues_the_count():
    w = {"a": 1.0}
    arrays = {"a": np.arange(1000, dtype=np.int64)}
    pre = PhaseSampler(arrays, w, steps=31, batch_size=2, seq_len=16, seed=1)  # 62 = one epoch
    cool = PhaseSampler(arrays, w, steps=5, batch_size=2, seq_len=16, seed=1, consumed=pre.drawn())
    assert pre.drawn() == {"a": 62} and cool.drawn() == {"a": 72}
    assert cool.epochs()["a"] == pytest.approx(72 * 16 / 1000)
    first_epoch = {int(x) % 16 for x in pre.starts}
    second = {int(x) % 16 for x in cool.starts}
    assert len(first_epoch) == 1 and len(second) == 1  # one shift per epoch
    fresh = PhaseSampler(arrays, w, steps=5, batch_size=2, seq_len=16, seed=1)
    assert not np.array_equal(cool.starts, fresh.starts)  # not a replay of epoch one


def test_resume_at_any_step_without_replay():
    w = {"a": 0.7, "b": 0.3}
    s = PhaseSampler(positions(), w, steps=40, batch_size=4, seq_len=16, seed=5)
    resumed = PhaseSampler(positions(), w, steps=40, batch_size=4, seq_len=16, seed=5)
    for k in (39, 0, 17):
        assert np.array_equal(resumed.batch(k), s.batch(k))


def test_over_epochs_flags_sources_that_would_repeat_too_often():
    arrays = {"a": np.arange(200, dtype=np.int64), "b": np.arange(100_000, dtype=np.int64)}
    s = PhaseSampler(arrays, {"a": 0.5, "b": 0.5}, steps=50, batch_size=4, seq_len=16, seed=0)
    assert set(s.over_epochs(4.0)) == {"a"} and s.epochs()["a"] == pytest.approx(8.0)
