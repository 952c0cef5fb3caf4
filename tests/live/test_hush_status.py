"""hush() stops every stream at the next bar; status() says what plays."""
import pytest

from lmdmlive.live import prelude

from .helpers import play


def test_hush_stops_every_stream_at_the_next_bar_and_each_can_start_again(session):
    a, b = session.stream("warm pads", seed=1), session.stream(seed=2, name="b")
    play(session, 0.5)
    assert a.playing and b.playing
    assert session.hush() == 2
    assert a.playing and b.playing, "nothing stops before the bar"
    play(session, 2.0)                      # 120 BPM: the next bar is at 2 s
    assert not a.playing and not b.playing
    a.play_at("now")
    play(session, 0.1)
    assert a.playing and not b.playing


def test_hush_with_a_bad_quant_stops_nothing(session):
    a = session.stream(seed=1)
    with pytest.raises(ValueError, match="quantize"):
        session.hush("bra")
    play(session, 2.5)
    assert a.playing


def test_status_names_each_stream_with_its_prompt_lanes_params_and_state(session):
    a = session.stream("dusty drums", seed=3)
    b = session.stream("warm pads", seed=4, name="pads")
    a.pitch = "c4 [eb4 g4]"
    a.loud = -12
    a.cfg.ramp(4, bars=8)
    b.stop_at("now")
    play(session, 0.5)
    text = session.status({"a": a})
    lines = text.splitlines()
    assert "120 BPM" in lines[0] and "2 stream(s)" in lines[0]
    first = next(i for i, line in enumerate(lines) if line.startswith("a: "))
    assert "'dusty drums'" in lines[first] and "playing" in lines[first] and "0 underrun(s)" in lines[first]
    assert "pitch 'c4 [eb4 g4]'" in lines[first + 1] and "loud '-12'" in lines[first + 1]
    assert "steps 1" in lines[first + 2] and "seed 3" in lines[first + 2] and "cfg" in lines[first + 2]
    assert "(ramp)" in lines[first + 2]
    pads = next(line for line in lines if line.startswith("pads: "))
    assert "'warm pads'" in pads and "stopped" in pads
    assert "lanes: none" in text


def test_hush_and_status_are_in_the_repl_and_patch_namespace(session, capsys):
    ns = prelude.namespace(session)
    exec('a = stream("glassy bells", seed=1)\na.pitch = "c5 e5"\nstatus()\nhush()', ns)
    out = capsys.readouterr().out
    assert out.startswith("120 BPM") and "a: Stream 'glassy bells'" in out and "pitch 'c5 e5'" in out
    play(session, 2.1)
    assert not ns["a"].playing
