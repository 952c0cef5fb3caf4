"""MIDI over python-rtmidi on a real JACK server (dummy driver): knobs, learn, 14-bit, keys, clock, loss."""
import time

import numpy as np
import pytest
import rtmidi
import torch

from lmdmlive.audio.jack import dummy_jack
from lmdmlive.live.midi import MidiError

from .helpers import controls


@pytest.fixture
def jack(monkeypatch):
    with dummy_jack("lmdm-midi-test") as env:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", env["JACK_DEFAULT_SERVER"])
        yield env


def controller(name="knobs"):
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="controller")
    out.open_virtual_port(name)
    return out


def until(check, seconds=2.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_a_knob_moves_a_param_and_learn_binds_the_next_control(session, jack):
    a = session.stream(torch.ones(384) * 0.1, seed=1, name="a")
    ctl = controller()
    midi = session.midi("knobs", api="jack", watch_seconds=0.2)
    try:
        time.sleep(0.2)
        midi.cc(74, a.cfg, lo=1, hi=6)
        ctl.send_message([0xB0, 74, 127])
        assert until(lambda: a.cfg.value == 6.0)
        ctl.send_message([0xB0, 74, 0])
        assert until(lambda: a.cfg.value == 1.0)
        midi.learn(a.steps)
        ctl.send_message([0xB3, 21, 127])                  # channel 4, an unbound control
        assert until(lambda: not midi.learning and a.steps.value == 64.0)
        ctl.send_message([0xB0, 21, 0])
        assert until(lambda: a.steps.value == 1.0)
    finally:
        midi.close()
        ctl.delete()


def test_fourteen_bit_control_and_keys_on_the_pitch_lane(session, jack):
    a = session.stream(torch.ones(384) * 0.1, seed=1)
    ctl = controller()
    midi = session.midi("knobs", api="jack")
    try:
        time.sleep(0.2)
        midi.cc(1, a.cfg, fine=33, lo=0, hi=16.383)
        ctl.send_message([0xB0, 1, 64])
        ctl.send_message([0xB0, 33, 5])
        assert until(lambda: abs(a.cfg.value - (64 * 128 + 5) / 1000) < 1e-6), a.cfg.value
        midi.notes(a)
        ctl.send_message([0x90, 64, 100])
        assert until(lambda: a.pitch is not None)
        c = controls(session, a, 0)
        assert (c.pitch_note == 64).all() and (c.voiced == 1).all()
        ctl.send_message([0x80, 64, 0])
        assert until(lambda: (controls(session, a, 0).voiced == 0).all())      # a rest: unvoiced, no pitch
        assert np.isnan(controls(session, a, 0).pitch_note).all()
    finally:
        midi.close()
        ctl.delete()


CLOCK_SOURCE = """
import sys, time, rtmidi
out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="drum machine")
out.open_virtual_port("clock")
print("ready", flush=True)
sys.stdin.readline()
interval = 60.0 / (140 * 24)
t0 = time.perf_counter()
for i in range(24 * 3):
    while time.perf_counter() < t0 + i * interval:
        pass
    out.send_message([0xF8])
time.sleep(0.3)
"""


def test_midi_clock_sets_the_tempo(session, jack):
    # The clock comes from another process, as from a drum machine: a sender in this process would
    # share its interpreter lock with every thread the session runs, and send late itself.
    import subprocess
    import sys
    source = subprocess.Popen([sys.executable, "-c", CLOCK_SOURCE], env=jack, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    midi = None
    try:
        assert source.stdout.readline().strip() == "ready"
        midi = session.midi("clock", api="jack")
        time.sleep(0.2)
        midi.follow_clock()
        source.stdin.write("go\n")
        source.stdin.flush()
        assert source.wait(timeout=30) == 0
        assert until(lambda: abs(session.bpm - 140) < 1.5), session.bpm
    finally:
        if midi is not None:
            midi.close()
        if source.poll() is None:
            source.kill()


def test_a_lost_clock_tick_does_not_slow_the_tempo_and_a_real_change_is_followed():
    from lmdmlive.live.clock_follow import clock_bpm
    rng = np.random.default_rng(0)
    period = 256 / 48000                     # JACK hands MIDI over once a period: arrival times are quantised
    interval = 60.0 / (140 * 24)
    for lost in (10, 30, 45):
        times = [np.ceil((i * interval + 0.001) / period) * period for i in range(50) if i != lost]
        assert abs(clock_bpm(times) - 140) < 1.0, lost
    assert abs(clock_bpm([i * interval for i in range(49)]) - 140) < 1e-6
    # 140 BPM for a beat, then 120: a tempo between them, never read as ticks lost
    slower = 60.0 / (120 * 24)
    times = [i * interval for i in range(25)] + [24 * interval + i * slower for i in range(1, 25)]
    times = [t + rng.uniform(0, period) for t in times]
    assert 120 < clock_bpm(times) < 140
    assert abs(clock_bpm(times[24:]) - 120) < 1.5


def test_one_late_clock_tick_barely_moves_the_tempo(session):
    from lmdmlive.live.midi import Midi
    midi = Midi(session)                           # no port: ticks handed in with their arrival times
    midi.follow_clock()
    interval = 60.0 / (140 * 24)
    for i in range(24):
        midi.handle([0xF8], 10.0 + i * interval)
    midi.handle([0xF8], 10.0 + 24 * interval + 0.018)   # the beat's last tick 18 ms late: a span says 134.4
    assert abs(session.bpm - 140) < 1.5, session.bpm


def test_mappings_are_saved_loaded_and_survive_an_unplugged_device(session, jack, tmp_path):
    a = session.stream(torch.ones(384) * 0.1, seed=1, name="lead")
    ctl = controller()
    midi = session.midi("knobs", api="jack", watch_seconds=0.2)
    try:
        midi.cc(10, a.cfg, lo=0, hi=10)
        path = midi.save(tmp_path / "map.json")
        midi.bindings.clear()
        assert midi.load(path) == 1
        ctl.close_port()                                    # unplugged
        ctl.delete()
        assert until(lambda: not midi.connected, 3.0)
        session.engine.step()                               # the session carries on
        ctl = controller()                                  # plugged back in
        assert until(lambda: midi.connected, 3.0)
        time.sleep(0.2)
        ctl.send_message([0xB0, 10, 127])
        assert until(lambda: a.cfg.value == 10.0)
    finally:
        midi.close()
        ctl.delete()


def test_bad_midi_requests_say_what_is_wrong(session, jack):
    with pytest.raises(MidiError, match="no MIDI input matches 'nothing here'"):
        session.midi("nothing here", api="jack")
    midi = session.midi(api="jack")
    a = session.stream(seed=1)
    with pytest.raises(MidiError, match="control must be a whole number from 0 to 127"):
        midi.cc(200, a.cfg)
    with pytest.raises(MidiError, match="moves a Param"):
        midi.cc(1, 3.0)
    with pytest.raises(MidiError, match="cannot be saved"):
        midi.cc(1, a.cfg)
        midi.save("/tmp/never.json")
    midi.handle([0xB0], 0.0)                                # a cut-off message is ignored
    midi.close()
