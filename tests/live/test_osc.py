"""OSC in, from a python-osc client in another process: attributes set as the REPL sets them,
errors answered to the sender, and SuperDirt-shaped /dirt/play bundles placed at their timetags."""
import json
import time

import numpy as np
import pyo
import pytest

from tests.audio.jack_child import Child
from tests.live.helpers import play
from tests.live.paced import Paced


class OscPeer(Child):
    def __init__(self, port):
        super().__init__(["tests.live.osc_peer", str(port)], None)
        self.wait_for("ready")

    def send(self, address, *args, at=None):
        item = {"address": address, "args": list(args)}
        if at is not None:
            item["at"] = at
        super().send(json.dumps(item))

    def replies(self, n, timeout=60):
        return [json.loads(self.wait_for("{", timeout)) for _ in range(n)]


def until(check, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_osc_sets_params_lanes_prompt_and_arrangement_and_answers_mistakes_to_the_sender(session):
    a = session.stream(seed=1, name="a")
    a.loud = "-20"
    osc = session.osc(port=0)
    peer = OscPeer(osc.port)
    try:
        good = [("/lmdm/a/cfg", 4.5), ("/lmdm/a/pitch", "c4 [e4 g4]"), ("/lmdm/a/bright", 900),
                ("/lmdm/a/steps", "<1 2>"), ("/lmdm/a/drums", 0.75), ("/lmdm/a/pan", 0.25),
                ("/lmdm/a/prompt", "dark techno"), ("/lmdm/bpm", 100)]
        bad = [(("/lmdm/a/cfg", 99.0), "outside"), (("/lmdm/a/pitchh", "c4"), "did you mean 'pitch'"),
               (("/lmdm/b/cfg", 1.0), "no stream named 'b'"), (("/lmdm/a/loud", "-10 ["), "never closed"),
               (("/lmdm/a/cfg",), "takes one value"), (("/lmdm/a/drums", 2.0), "outside"),
               (("/lmdm/a/stop_at", "soon"), "quantize"), (("/elsewhere", 1), "unknown address")]
        for address, *args in good:
            peer.send(address, *args)
        for (address, *args), _ in bad:
            peer.send(address, *args)
        replies = peer.replies(len(bad))
        assert until(lambda: osc.messages == len(good) + len(bad))
    finally:
        peer.close()
    assert a.cfg.value == 4.5 and a.steps.mode == "pattern" and a.pan == 0.25
    assert a.arrangement["drums"].value == 0.75
    assert a.prompt == "dark techno"
    assert [h.value for h in a.pitch.query(0, 1)] == [60.0, 64.0, 67.0]
    assert [h.value for h in a.bright.query(0, 1)] == [900.0]
    assert [h.value for h in a.loud.query(0, 1)] == [-20.0], "a refused lane keeps what it had"
    assert session.clock.bpm == 100
    assert osc.errors == len(bad)
    for reply, ((address, *_), words) in zip(replies, bad):
        assert reply["address"] == "/lmdm/error"
        (line,) = reply["args"]
        assert line.startswith(address + ": ") and words in line and "\n" not in line, line
    # the sound keeps playing
    table = pyo.NewTable(length=1.5)
    rec = pyo.TableRec(a, table, fadetime=0).play()
    play(session, 1.5)
    rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    assert np.sqrt(np.mean(out[24000:] ** 2)) > 1e-6 and session.engine.errors == 0
    assert a.playing


def onsets(lane, session, paced, t_from, t_to):
    """(monotonic time on the paced schedule, value) of each event starting in [t_from, t_to)."""
    clock = session.clock
    begin, end = (clock.cycle_at(int(paced.sample_of(t))) for t in (t_from, t_to))
    return [(paced.time_of(clock.sample_at(h.whole.begin)), h.value, h.whole) for h in lane.onsets(begin, end)]


def test_timed_dirt_play_bundles_sound_at_their_timetags_moved_by_latency_and_nudge(session):
    lead = session.stream(seed=1, name="lead")
    osc = session.osc(port=0)
    peer = OscPeer(osc.port)
    step = 0.125
    try:
        with Paced(session) as paced:
            time.sleep(0.5)                              # the session learns when its samples are computed
            t0 = time.monotonic() + 0.5
            for k in range(8):                           # as TidalCycles sends: each event ahead, in a bundle
                peer.send("/dirt/play", "s", "lead", "n", k, "gain", [1.0, 0.5][k % 2], "cutoff", 500.0 + 100 * k,
                          "delta", step, "orbit", 0, "cps", 0.5, at=t0 + k * step)
            assert until(lambda: osc.messages == 8)
            session.latency, session.nudge = 0.02, 0.05
            t1 = t0 + 1.5
            for k in range(4):
                peer.send("/dirt/play", "s", "lead", "note", 12 + k, "delta", step, at=t1 + k * step)
            peer.send("/dirt/play", "s", "nobody", "n", 0, at=t1)
            peer.send("/dirt/play", "s", "lead", "n", 500, at=t1)
            errors = peer.replies(2)
            assert until(lambda: osc.messages == 14)
            time.sleep(max(0.0, t1 + 0.6 - time.monotonic()))
    finally:
        peer.close()
    assert "no stream named 'nobody'" in errors[0]["args"][0] and "outside the MIDI range" in errors[1]["args"][0]
    tolerance = 0.003                                    # seconds; a buffer is 5.3 ms
    first = onsets(lead.pitch, session, paced, t0 - 0.1, t1 - 0.1)
    assert [v for _, v, _ in first] == [60.0 + k for k in range(8)]
    for k, (t, _, whole) in enumerate(first):
        assert abs(t - (t0 + k * step)) < tolerance, (k, t - (t0 + k * step))
    # gain -> loudness (gain^4, 0 dB of it at -14 dB), cutoff -> brightness, each on its own lane
    loud = onsets(lead.loud, session, paced, t0 - 0.1, t0 + 1.0)
    assert [round(v, 2) for _, v, _ in loud] == [-14.0, -38.08] * 4
    assert [v for _, v, _ in onsets(lead.bright, session, paced, t0 - 0.1, t0 + 1.0)] == [500.0 + 100 * k
                                                                                         for k in range(8)]
    # later events: moved by latency + nudge, 70 ms
    second = onsets(lead.pitch, session, paced, t1 - 0.1, t1 + 1.0)
    assert [v for _, v, _ in second] == [72.0, 73.0, 74.0, 75.0]
    for k, (t, _, _) in enumerate(second):
        assert abs(t - (t1 + k * step + 0.07)) < tolerance, (k, t - (t1 + k * step))
    # each event lasts its delta (the last one too: after it, a rest)
    t, _, whole = second[-1]
    length = paced.time_of(session.clock.sample_at(whole.end)) - t
    assert length == pytest.approx(step, abs=0.001)


def test_a_busy_port_and_bad_settings_are_one_line_errors(session):
    from lmdmlive.live.osc import OscError, OscIn
    from lmdmlive.live.timebase import SyncError
    osc = session.osc(port=0)
    assert session.osc() is osc, "osc() without a port is the one listening"
    with pytest.raises(OscError, match=f"cannot listen for OSC on 127.0.0.1:{osc.port}"):
        OscIn(session, osc.port)
    with pytest.raises(OscError, match="a whole number from 0 to 65535"):
        session.osc(70000)
    with pytest.raises(SyncError, match="nudge 5 is outside -1..1 seconds"):
        session.nudge = 5
    with pytest.raises(SyncError, match="latency is a number of seconds"):
        session.latency = "soon"
    assert session.nudge == 0.0 and session.latency == 0.0


def test_a_patch_takes_an_osc_port_on_the_command_line():
    from lmdmlive.cli.args import CommandError
    from lmdmlive.cli.play import parse_patch_args, patch_argument
    assert parse_patch_args(["patches/07_tidal_osc.py", "--osc", "57121"]).osc == 57121
    assert parse_patch_args(["patches/07_tidal_osc.py"]).osc is None
    assert patch_argument(["--osc", "57121", "patches/07_tidal_osc.py"]) == "patches/07_tidal_osc.py"
    with pytest.raises(CommandError, match="--osc: expected a UDP port from 1 to 65535, got '70000'"):
        parse_patch_args(["patches/07_tidal_osc.py", "--osc", "70000"])
