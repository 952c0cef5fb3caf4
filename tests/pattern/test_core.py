"""The Pattern algebra: a handful of combinators on the query, exact time throughout."""
from fractions import Fraction as Fr

import pytest

from lmdmlive.pattern import bjorklund, cat, euclid, fastcat, mini, pure, rand, saw, silence, sine, stack, square, tri


def vals(p, b=0, e=1):
    return [h.value for h in sorted(p.onsets(b, e), key=lambda h: (h.whole.begin, str(h.value)))]


def test_fast_slow_and_rev():
    p = fastcat("a", "b", "c")
    assert vals(p.fast(2)) == ["a", "b", "c", "a", "b", "c"]
    assert vals(p.slow(3), 0, 3) == ["a", "b", "c"]
    assert vals(p.rev()) == ["c", "b", "a"]


def test_every_applies_on_the_first_of_each_n_cycles():
    p = fastcat("a", "b").every(3, lambda x: x.rev())
    assert [vals(p, c, c + 1) for c in range(4)] == [["b", "a"], ["a", "b"], ["a", "b"], ["b", "a"]]


def test_cat_and_stack():
    assert [vals(cat("a", "b"), c, c + 1) for c in range(3)] == [["a"], ["b"], ["a"]]
    assert vals(stack("a", "b")) == ["a", "b"]
    assert vals(silence()) == []


def test_arithmetic_takes_structure_from_the_left():
    p = mini("0 2") + mini("10 20 30")
    assert sorted((h.part.begin, h.value) for h in p.query(0, 1)) == [(0, 10), (Fr(1, 3), 20), (Fr(1, 2), 22),
                                                                      (Fr(2, 3), 32)]
    assert vals(mini("1 2") * 3) == [3, 6]
    assert vals(10 - mini("1 2")) == [9]


def test_euclid_and_bjorklund():
    assert bjorklund(3, 8) == [True, False, False, True, False, False, True, False]
    assert sum(bjorklund(5, 13)) == 5
    assert len(euclid("x", 3, 8).onsets(0, 1)) == 3
    with pytest.raises(ValueError, match="n must be at least 1"):
        euclid("x", 3, 0)


def test_degrade_by_is_deterministic_and_proportional():
    p = pure("x").fast(16).degrade_by(0.25)
    kept = sum(len(p.onsets(c, c + 1)) for c in range(40))
    assert 400 < kept < 560
    assert [len(p.onsets(c, c + 1)) for c in range(5)] == [len(p.onsets(c, c + 1)) for c in range(5)]


def test_signals_are_continuous_and_segment_samples_them():
    assert [round(v, 3) for v in vals(saw.segment(4))] == [0, 0.25, 0.5, 0.75]
    assert [round(v, 3) for v in vals(sine.segment(4))] == [0.5, 1.0, 0.5, 0.0]
    assert [round(v, 3) for v in vals(tri.segment(4))] == [0, 0.5, 1.0, 0.5]
    assert vals(square.segment(2)) == [0.0, 1.0]
    assert all(0 <= v < 1 for v in vals(rand.segment(16)))
    (h,) = saw.query(Fr(1, 4), Fr(1, 2))
    assert h.whole is None and h.value == 0.25


def test_range_maps_unipolar_values():
    assert [round(v) for v in vals(saw.segment(2).range(200, 800))] == [200, 500]


def test_negative_speed_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        pure("a").fast(-1)
