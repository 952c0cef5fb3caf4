"""Sketch lanes become per-frame curves at the clock's positions."""
import pytest
import torch

from lmdmlive.engine.clock import Clock
from lmdmlive.live.lanes import lane_pattern, sketch_for_frames
from lmdmlive.model import SKETCH_CURVES, sketch_units
from lmdmlive.pattern import saw

I = {n: i for i, n in enumerate(SKETCH_CURVES)}


def frames(clock, start, count=12, hop=1920):
    return [clock.cycle_at(start + k * hop) for k in range(count)], clock.cycle_at(hop) - clock.cycle_at(0)


def test_a_pitch_lane_follows_the_notes_and_rests_are_unvoiced():
    clock = Clock(120, 4, 48000)                 # a bar is 2 s = 50 frames of 40 ms
    cycles, width = frames(clock, 0, count=50)
    sketch, mask = sketch_for_frames({"pitch": lane_pattern("pitch", "c4 ~ e4 g4")}, cycles, width)
    pitch = sketch[0, :, I["pitch"]]
    assert pitch[0] == sketch_units("pitch", 60.0) and pitch[30] == sketch_units("pitch", 64.0)
    assert sketch[0, 15, I["voiced"]] == 0 and mask[0, 15, I["voiced"]] == 1   # the rest
    assert mask[0, 15, I["pitch"]] == 0
    assert mask[0, :, I["loud"]].sum() == 0, "lanes not given stay free"


def test_a_frame_across_a_note_change_takes_the_note_at_its_start_in_a_bar_and_across_bars():
    clock = Clock(120, 4, 48000)
    inside, width = frames(clock, 23040, count=1)            # 0.48 s..0.52 s: c4, then e4 from 0.5 s
    across, _ = frames(clock, 95040, count=1)                # 1.98 s..2.02 s: g4, then the next bar's c4
    lanes = {"pitch": lane_pattern("pitch", "c4 e4 g4 g4")}
    assert sketch_for_frames(lanes, inside, width)[0][0, 0, I["pitch"]] == sketch_units("pitch", 60.0)
    assert sketch_for_frames(lanes, across, width)[0][0, 0, I["pitch"]] == sketch_units("pitch", 67.0)


def test_loudness_and_brightness_lanes_take_numbers_and_signals():
    clock = Clock(60, 4, 48000)
    cycles, width = frames(clock, 0, count=100)
    lanes = {"loud": lane_pattern("loud", "-30 -10"), "bright": lane_pattern("bright", saw.range(500, 4000))}
    sketch, mask = sketch_for_frames(lanes, cycles, width)
    assert sketch[0, 10, I["loud"]] == sketch_units("loud", -30.0)
    assert sketch[0, 60, I["loud"]] == sketch_units("loud", -10.0)
    bright = sketch[0, :, I["bright"]]
    assert bool((bright[1:] >= bright[:-1] - 1e-6).all()), "a rising saw gives rising brightness"
    assert mask[0, :, I["bright"]].all()


def test_the_rhythm_lane_marks_onsets():
    clock = Clock(120, 4, 48000)
    cycles, width = frames(clock, 0, count=50)
    sketch, mask = sketch_for_frames({"rhythm": lane_pattern("rhythm", "x(3,8)")}, cycles, width)
    onsets = torch.nonzero(sketch[0, :, I["onset"]]).flatten().tolist()
    assert onsets == [0, 18, 37]                 # 0, 3/8 and 6/8 of a 50-frame bar
    assert mask[0, :, I["onset"]].all()


@pytest.mark.parametrize("lane, value, message", [
    ("pitch", "c4 h9", "not a note name"), ("loud", "-10 loud", "is not a number"),
    ("bright", float("nan"), "not a usable value"), ("tempo", "1", "unknown sketch lane"),
    ("loud", [1, 2], "expected mini-notation"), ("pitch", "c4 [e4", "is never closed"),
])
def test_mistakes_in_a_lane_are_reported_when_typed(lane, value, message):
    with pytest.raises(ValueError, match=message):
        lane_pattern(lane, value)
