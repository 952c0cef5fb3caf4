"""The clock: bars at a tempo, exact, continuous across tempo changes."""
from fractions import Fraction as Fr

import pytest

from lmdmlive.live.clock import Clock


def test_a_bar_at_120_bpm_in_four_is_two_seconds():
    c = Clock(120, 4, 48000)
    assert c.cycle_at(96000) == 1 and c.sample_at(1) == 96000
    assert c.cycle_at(24000) == Fr(1, 4)


def test_sample_and_cycle_round_trip_exactly():
    c = Clock(133, 4, 48000)
    for s in (0, 1, 12345, 10 ** 7):
        assert c.sample_at(c.cycle_at(s)) == s


def test_a_tempo_change_waits_for_the_next_bar_and_keeps_time_continuous():
    c = Clock(120, 4, 48000)
    at = c.set_bpm(60, now=100000)
    assert at == 192000                       # bar 2 starts at 4 s
    assert c.cycle_at(at) == 2
    assert c.cycle_at(at + 192000) == 3       # at 60 BPM a bar lasts 4 s
    assert c.cycle_at(at - 1) < 2 < c.cycle_at(at + 1)
    assert c.bpm == 60


def test_next_bar_and_block_boundaries():
    c = Clock(120, 4, 48000)
    assert c.next_bar(0) == 0 and c.next_bar(1) == 96000
    assert c.next_boundary(23041, 23040) == 46080 and c.next_boundary(23040, 23040) == 23040


def test_the_span_of_a_block_is_what_patterns_are_queried_with():
    c = Clock(120, 4, 48000)
    assert c.span(0, 23040) == (0, Fr(23040, 96000))


@pytest.mark.parametrize("bpm, message", [(0, "outside"), (5000, "outside"), ("fast", "must be a number"),
                                          (float("nan"), "must be a number")])
def test_impossible_tempos_are_refused(bpm, message):
    with pytest.raises(ValueError, match=message):
        Clock(bpm)


def test_a_tempo_change_at_the_very_first_sample_replaces_the_first_segment():
    from lmdmlive.live.clock import Clock
    clock = Clock(120, 4, 48000)
    clock.set_bpm(140, 0, quantize="now")
    assert clock.bpm == 140 and clock.cycle_at(0) == 0
