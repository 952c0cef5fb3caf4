"""Sketch lanes become per-frame values, in the performer's units, at the clock's positions."""
import numpy as np
import pytest

from lmdmlive.live.clock import Clock
from lmdmlive.live.lanes import lane_pattern, lanes_for_frames
from lmdmlive.pattern import saw


def frames(clock, start, count=12, hop=1920):
    """The cycle bounds of `count` frames of `hop` samples from sample `start`."""
    return [clock.cycle_at(start + k * hop) for k in range(count + 1)]


def test_a_pitch_lane_follows_the_notes_and_rests_are_unvoiced():
    clock = Clock(120, 4, 48000)                 # a bar is 2 s = 50 frames of 40 ms
    lanes = lanes_for_frames({"pitch": lane_pattern("pitch", "c4 ~ e4 g4")}, frames(clock, 0, count=50))
    assert sorted(lanes) == ["pitch_note", "voiced"], "lanes not given stay out"
    assert lanes["pitch_note"][0] == 60 and lanes["pitch_note"][30] == 64
    assert lanes["voiced"][15] == 0 and np.isnan(lanes["pitch_note"][15])      # the rest: unvoiced, no pitch
    assert lanes["voiced"][0] == 1


def test_a_frame_across_a_note_change_takes_the_note_at_its_start_in_a_bar_and_across_bars():
    clock = Clock(120, 4, 48000)
    inside = frames(clock, 23040, count=1)            # 0.48 s..0.52 s: c4, then e4 from 0.5 s
    across = frames(clock, 95040, count=1)            # 1.98 s..2.02 s: g4, then the next bar's c4
    lanes = {"pitch": lane_pattern("pitch", "c4 e4 g4 g4")}
    assert lanes_for_frames(lanes, inside)["pitch_note"][0] == 60
    assert lanes_for_frames(lanes, across)["pitch_note"][0] == 67


def test_loudness_and_brightness_lanes_take_numbers_and_signals():
    clock = Clock(60, 4, 48000)
    lanes = {"loud": lane_pattern("loud", "-30 -10"), "bright": lane_pattern("bright", saw.range(500, 4000))}
    out = lanes_for_frames(lanes, frames(clock, 0, count=100))
    assert out["loud_db"][10] == -30.0 and out["loud_db"][60] == -10.0
    bright = out["bright_hz"]
    assert bool((bright[1:] >= bright[:-1]).all()) and 500 <= bright.min() and bright.max() <= 4000, \
        "a rising saw gives rising brightness, in Hz"
    assert np.isfinite(bright).all()


def test_a_rest_in_a_loudness_lane_leaves_its_frames_free():
    clock = Clock(120, 4, 48000)
    loud = lanes_for_frames({"loud": lane_pattern("loud", "-12 ~")}, frames(clock, 0, count=50))["loud_db"]
    assert (loud[:25] == -12.0).all() and np.isnan(loud[25:]).all()


def test_the_rhythm_lane_marks_onsets():
    clock = Clock(120, 4, 48000)
    onset = lanes_for_frames({"rhythm": lane_pattern("rhythm", "x(3,8)")}, frames(clock, 0, count=50))["onset"]
    assert np.flatnonzero(onset).tolist() == [0, 18, 37]       # 0, 3/8 and 6/8 of a 50-frame bar
    assert np.isfinite(onset).all(), "every frame of a rhythm lane is given: 1 an onset, 0 none"


@pytest.mark.parametrize("lane, value, message", [
    ("pitch", "c4 h9", "not a note name"), ("loud", "-10 loud", "is not a number"),
    ("bright", float("nan"), "not a usable value"), ("tempo", "1", "unknown sketch lane"),
    ("loud", [1, 2], "expected mini-notation"), ("pitch", "c4 [e4", "is never closed"),
])
def test_mistakes_in_a_lane_are_reported_when_typed(lane, value, message):
    with pytest.raises(ValueError, match=message):
        lane_pattern(lane, value)
