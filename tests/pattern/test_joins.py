"""Joins and patterned arguments, as Strudel's pattern core defines them (pattern.mjs: innerJoin,
outerJoin, squeezeJoin, register's patternified arguments) and Tidal's docs describe them."""
from fractions import Fraction as Fr

import pytest

from lmdmlive.pattern import euclid, fastcat, mini, patterned, pure, saw, sequence


def onsets(p, b=0, e=1):
    """(start, stop, value) of every event starting in [b, e), sorted."""
    return sorted((h.whole.begin, h.whole.end, h.value) for h in p.onsets(b, e))


def fragments(p, b=0, e=1):
    """(whole, part, value) of everything a query answers, sorted."""
    return sorted((tuple(h.whole), tuple(h.part), h.value) for h in p.query(b, e))


def nested():
    """Outer "a b"; under each outer event, the inner pattern "a1 a2 a3" (or "b1 b2 b3")."""
    return mini("a b").fmap(lambda v: mini(f"{v}1 {v}2 {v}3"))


def test_inner_join_keeps_the_inner_structure_and_the_outer_only_picks_which_plays():
    p = nested().inner_join()
    assert onsets(p) == [(0, Fr(1, 3), "a1"), (Fr(1, 3), Fr(2, 3), "a2"), (Fr(2, 3), 1, "b3")]
    # the inner event across the outer boundary is cut there: its second fragment comes from "b", with no onset
    assert ((Fr(1, 3), Fr(2, 3)), (Fr(1, 2), Fr(2, 3)), "b2") in fragments(p)


def test_outer_join_keeps_the_outer_structure_with_the_inner_value_at_each_onset():
    p = nested().outer_join()
    assert onsets(p) == [(0, Fr(1, 2), "a1"), (Fr(1, 2), 1, "b2")]
    assert all(h.whole in ((0, Fr(1, 2)), (Fr(1, 2), 1)) for h in p.query(0, 1))


def test_join_takes_the_intersection_of_both_wholes():
    assert onsets(nested().join()) == [(0, Fr(1, 3), "a1"), (Fr(1, 3), Fr(1, 2), "a2"), (Fr(1, 2), Fr(2, 3), "b2"),
                                       (Fr(2, 3), 1, "b3")]


def test_squeeze_join_fits_a_whole_inner_cycle_into_each_outer_event():
    assert onsets(nested().squeeze_join()) == [(Fr(k, 6), Fr(k + 1, 6), f"{'ab'[k // 3]}{k % 3 + 1}")
                                               for k in range(6)]


def test_squeeze_gives_plys_documented_result():
    # Strudel's ply is `pat.fmap(x => pure(x)._fast(factor)).squeezeJoin()`:
    # "bd ~ sd cp".ply(2) is "bd bd ~ sd sd cp cp"
    p = mini("bd ~ sd cp").squeeze_bind(lambda x: pure(x).fast(2))
    assert onsets(p) == [(0, Fr(1, 8), "bd"), (Fr(1, 8), Fr(1, 4), "bd"), (Fr(1, 2), Fr(5, 8), "sd"),
                         (Fr(5, 8), Fr(3, 4), "sd"), (Fr(3, 4), Fr(7, 8), "cp"), (Fr(7, 8), 1, "cp")]


def test_squeeze_plays_the_inner_cycle_of_the_outer_events_cycle():
    p = mini("x y").squeeze_bind(lambda v: mini("<1 2>"))
    assert [[v for _, _, v in onsets(p, c, c + 1)] for c in range(3)] == [[1, 1], [2, 2], [1, 1]]


def test_squeeze_into_an_event_longer_than_a_cycle_stretches_one_inner_cycle_over_it():
    p = pure(fastcat("a", "b")).slow(2).squeeze_join()
    assert onsets(p, 0, 2) == [(0, 1, "a"), (1, 2, "b")]


def test_continuous_outer_values_have_no_structure_to_squeeze_into():
    assert saw.fmap(lambda v: pure("x")).squeeze_join().query(0, 1) == []


def test_app_right_and_app_both_take_structure_from_the_right_and_from_both():
    left, right = mini("1 2"), mini("10 20 30")
    assert onsets(left.app_right(right, lambda a, b: a + b)) == [(0, Fr(1, 3), 11), (Fr(1, 3), Fr(2, 3), 21),
                                                                  (Fr(2, 3), 1, 32)]
    assert onsets(left.app_both(right, lambda a, b: a + b)) == [(0, Fr(1, 3), 11), (Fr(1, 3), Fr(1, 2), 21),
                                                                 (Fr(1, 2), Fr(2, 3), 22), (Fr(2, 3), 1, 32)]


def test_a_patterned_speed_speeds_up_what_plays_under_each_of_its_events():
    # Tidal's docs: fast "1 2" $ s "bd sn" plays "bd" in the first half, "[bd sn]" in the second
    p = mini("bd sn").fast(mini("1 2"))
    assert onsets(p) == [(0, Fr(1, 2), "bd"), (Fr(1, 2), Fr(3, 4), "bd"), (Fr(3, 4), 1, "sn")]
    # cycle 1 plays the second cycle of "a b" slowed down twice: "b" alone (time is not reset)
    assert onsets(mini("a b").slow(mini("<1 2>")), 0, 3) == onsets(mini("<[a b] b>"), 0, 3) == \
        [(0, Fr(1, 2), "a"), (Fr(1, 2), 1, "b"), (1, 2, "b"), (2, Fr(5, 2), "a"), (Fr(5, 2), 3, "b")]


def test_patterned_arguments_take_structure_from_the_first_and_the_rest_sample_under_it():
    p = patterned(lambda n, v: pure(v).fast(n), sequence(1, 2), mini("<a b>"))
    # first half: "a" at speed 1 (its whole is the cycle); second half: "a" at speed 2; "<a b>" picks the value
    assert [onsets(p, c, c + 1) for c in range(2)] == [[(0, 1, "a"), (Fr(1, 2), 1, "a")],
                                                       [(1, 2, "b"), (Fr(3, 2), 2, "b")]]
    assert patterned(lambda n: pure("x").fast(n), 3).onsets(0, 1) == pure("x").fast(3).onsets(0, 1)


def test_euclid_takes_patterned_arguments_as_mini_notation_does():
    p = euclid("x", mini("<3 5>"), 8, mini("<0 2>"))
    assert [onsets(p, c, c + 1) for c in range(2)] == [onsets(mini("x(3,8,0)")), onsets(mini("x(5,8,2)"), 1, 2)]
    assert onsets(p, 0, 2) == onsets(mini("x(<3 5>,8,<0 2>)"), 0, 2)


def test_a_bad_value_of_a_patterned_mini_notation_argument_is_a_rest_not_a_crash():
    assert [len(onsets(mini("a*<2 0 x>"), c, c + 1)) for c in range(3)] == [2, 0, 0]
    with pytest.raises(ValueError, match="must not be negative"):
        pure("a").fast(sequence(1, -1)).query(0, 1)
