"""MIDI clock out over JACK MIDI (`jackd -d dummy`), read by a second process as a drum machine
would: 24 even ticks per beat at the session's tempo, Song Position and Continue on the bar,
tempo changes followed, and `session.nudge` moving the ticks."""
import json
import os
import time
from fractions import Fraction

import numpy as np
import pytest

from lmdmlive.audio.jack import dummy_jack
from lmdmlive.live.midi import MidiError
from tests.audio.jack_child import Child
from tests.live.paced import Paced

CLOCK, CONTINUE, START, STOP, SPP = 0xF8, 0xFB, 0xFA, 0xFC, 0xF2


@pytest.fixture
def jack(monkeypatch):
    # Asked for before `session`, so it stops after the session has closed its MIDI ports.
    # 64-frame periods: JACK hands MIDI over once a period, 1.3 ms here
    with dummy_jack(f"lmdm-clock-{os.getpid()}", period=64) as env:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", env["JACK_DEFAULT_SERVER"])
        yield env


def sleep_until(t):
    time.sleep(max(0.0, t - time.monotonic()))


def window(heard, after):
    """Ticks from the first one after message `after` up to the next Stop: [(time, ...)]."""
    i = next(k for k, (_, m) in enumerate(heard) if m == after)
    ticks = []
    for t, m in heard[i + 1:]:
        if m == [STOP]:
            break
        if m == [CLOCK]:
            ticks.append(t)
    return i, np.asarray(ticks)


def offset(ticks, bar, time_of, n=48):
    """Median lateness of the first `n` ticks from `bar` against when their places are computed."""
    expected = np.asarray([time_of(bar + Fraction(k, 96)) for k in range(n)])
    return float(np.median(ticks[:n] - expected))


def bpm_of(ticks):
    k = np.arange(len(ticks))
    slope = np.polyfit(k, ticks, 1)[0]
    return 60.0 / (24 * slope)


def test_clock_out_keeps_tempo_with_even_ticks_starts_on_the_bar_and_moves_with_nudge(jack, session):
    clock_time = lambda p, cycle: p.time_of(session.clock.sample_at(cycle))      # noqa: E731
    reader = None
    try:
        with Paced(session) as paced:
            clock = session.midi_clock_out(virtual="lmdm clock", api="jack")
            reader = Child(["tests.live.midi_clock_reader", "--connect", "lmdm clock"], jack)
            reader.wait_for("ready", timeout=60)
            bar = clock.start()                          # Song Position + Continue at the next bar
            sleep_until(clock_time(paced, bar + 2) + 0.01)
            clock.stop()
            session.nudge = 0.05
            slower = session.clock.set_bpm(90, session.now())        # at the next bar
            bar2 = clock.start()
            assert session.clock.sample_at(bar2) == slower
            sleep_until(clock_time(paced, bar2 + 1) + 0.06)
            clock.stop()
            time.sleep(0.1)
            reader.send("quit")
            heard = json.loads(reader.wait_for("[", timeout=30))
    finally:
        if reader is not None:
            reader.close()
    assert clock.ticks > 100 and clock.late < 3

    first_at, first = window(heard, [CONTINUE] if bar else [START])
    if bar:
        assert heard[first_at - 1][1] == [SPP, int(bar * 16) & 0x7F, int(bar * 16) >> 7], "Song Position: the bar, in 16ths"
    # two bars of ticks; the stop lands 10 ms after them, so under load the last few may not be out
    # yet (a lost tick in between shows as a gap below)
    assert 2 * 96 - 4 <= len(first) <= 2 * 96 + 1, len(first)
    assert bpm_of(first) == pytest.approx(120, rel=0.01)
    gaps = np.diff(first) * 1000
    nominal = 60000 / (120 * 24)
    print(f"tick gaps: median {np.median(gaps):.3f} ms, spread {np.percentile(np.abs(gaps - nominal), [50, 95, 100])}")
    assert np.median(np.abs(gaps - nominal)) < 1.0
    assert np.percentile(np.abs(gaps - nominal), 95) < 3.5
    assert 0.2 * nominal < gaps.min(), "no tick doubled, none sent late in a burst"
    # A busy JACK graph now and then loses a MIDI event on the way (the input side saw one clock
    # byte in 72 go missing the same way): one gap of two ticks is allowed, no more, no longer.
    assert np.sum(gaps > 1.5 * nominal) <= 1 and gaps.max() < 2.5 * nominal, "ticks lost or late"
    # the bar's first tick is the follower's first beat, when the session computes that bar; each
    # tick when its place is computed (the median of half a bar's: one tick may wake late under load)
    on_bar = offset(first, bar, lambda cycle: clock_time(paced, cycle))

    _, second = window(heard[first_at + 1:], [CONTINUE])
    assert bpm_of(second) == pytest.approx(90, rel=0.01), "the tempo change is followed"
    nudged = offset(second, bar2, lambda cycle: clock_time(paced, cycle))
    print(f"ticks after their places: {on_bar * 1000:.2f} ms, with nudge 50 ms: {nudged * 1000:.2f} ms")
    assert abs(on_bar) < 0.004
    assert nudged - on_bar == pytest.approx(0.05, abs=0.003)


def test_clock_out_opens_a_port_by_name_and_refuses_a_missing_one(jack, session):
    reader = Child(["tests.live.midi_clock_reader", "--virtual", "drum machine"], jack)
    try:
        reader.wait_for("ready", timeout=60)
        with Paced(session):
            clock = session.midi_clock_out("drum machine", api="jack")
            time.sleep(1.0)
            clock.close()
        reader.send("quit")
        heard = json.loads(reader.wait_for("[", timeout=30))
    finally:
        reader.close()
    ticks = [t for t, m in heard if m == [CLOCK]]
    assert 40 <= len(ticks) <= 52, len(ticks)                  # 48 a second at 120 BPM
    with pytest.raises(MidiError, match="no MIDI output matches 'nothing here'"):
        session.midi_clock_out("nothing here", api="jack")
