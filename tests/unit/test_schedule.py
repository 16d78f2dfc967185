import pytest

from codemix_search.core.schedule import Schedule


def test_wsd_shape():
    s = Schedule(total_steps=400, peak_lr=1e-3, cooldown_share=0.2, warmup_share=0.05)
    assert s.warmup_steps == 20 and s.cooldown_start == 320 and s.cooldown_steps == 80
    assert s.lr(0) == pytest.approx(1e-3 / 20)
    assert s.lr(19) == pytest.approx(1e-3)
    assert all(s.lr(k) == 1e-3 for k in range(20, 320))
    decay = [s.lr(k) for k in range(320, 400)]
    assert decay[0] == pytest.approx(1e-3) and decay[-1] == 0.0
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert s.phase(319) == "pretrain" and s.phase(320) == "cooldown"
    assert sum(s.phase_steps().values()) == 400


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(total_steps=1, peak_lr=1),
        dict(total_steps=10, peak_lr=0),
        dict(total_steps=10, peak_lr=1, cooldown_share=1.0),
        dict(total_steps=10, peak_lr=1, warmup_share=0.9),
    ],
)
def test_invalid(kwargs):
    with pytest.raises(ValueError):
        Schedule(**kwargs)


def test_lr_outside_range():
    with pytest.raises(ValueError):
        Schedule(10, 1.0).lr(10)
