"""A stream refuses names it does not have, and lists the ones it has (for Tab)."""
import pyo
import pytest
from prompt_toolkit.document import Document

from lmdmlive.live.repl import LiveCompleter


def test_a_misspelt_lane_is_an_error_naming_the_lane(session):
    a = session.stream(seed=1)
    with pytest.raises(AttributeError, match="did you mean 'pitch'"):
        a.pitchh = "c4"
    assert "pitchh" not in vars(a) and a.pitch is None
    with pytest.raises(AttributeError, match="did you mean 'cfg'"):
        a.cgf = 3
    assert a.cfg.value == session.engine.guidance


def test_an_unknown_name_is_an_error_listing_what_can_be_set(session):
    a = session.stream(seed=1)
    with pytest.raises(AttributeError) as e:
        a.foo = "c4"
    message = str(e.value)
    assert "'foo'" in message and "did you mean" not in message
    for name in ("pitch", "loud", "bright", "rhythm", "steps", "cfg", "seed", "prompt", "pan", "mul", "add"):
        assert name in message, name
    assert not hasattr(a, "foo")


def test_what_a_stream_has_can_still_be_set(session):
    a = session.stream(seed=1)
    a.pitch, a.loud, a.bright, a.rhythm = "c4 e4", "-12", "800", "1 ~ 1 ~"
    a.steps, a.cfg, a.seed = 2, 3, 7
    a.pan, a.mul, a.add = 0.25, 0.5, 0
    a._scratch = 1                          # private names are the class's own business
    assert a.pitch is not None and a.steps.value == 2 and a.seed.value == 7 and a.pan == 0.25 and a.mul == 0.5
    with pytest.raises(AttributeError, match="read-only"):
        a.underruns = 0
    with pytest.raises(AttributeError, match="method"):
        a.stop = 1
    with pytest.raises(AttributeError, match="set when it is made"):
        a.player = None
    assert a.player is not None


def test_a_delay_accepts_its_own_knobs_and_refuses_a_typo(session):
    d = session.delay(blocks=4, source=pyo.Sig(0.0), seed=1)
    d.strength, d.feedback = 0.3, 0.2
    assert d.strength.value == pytest.approx(0.3) and d.feedback == pytest.approx(0.2)
    with pytest.raises(AttributeError, match="did you mean 'strength'"):
        d.strenght = 0.4
    with pytest.raises(AttributeError, match="set when it is made"):
        d.blocks = 8
    assert d.blocks == 4
    a = session.stream(seed=1)
    with pytest.raises(AttributeError):
        a.strength = 0.5                    # a plain stream has no strength


def test_dir_lists_lanes_params_methods_and_properties(session):
    a = session.stream(seed=1)
    names = set(dir(a))
    for name in ("pitch", "loud", "bright", "rhythm", "steps", "cfg", "seed", "prompt", "pan", "mul", "add",
                 "stop", "stop_at", "play_at", "out", "play", "controls_at", "morph", "arrange", "playing", "underruns"):
        assert name in names, name
    d = session.delay(blocks=4, source=pyo.Sig(0.0), seed=1)
    assert {"strength", "feedback", "blocks", "route"} <= set(dir(d))


def test_tab_completes_a_streams_lanes_and_methods(session):
    a = session.stream(seed=1)
    comp = LiveCompleter({"a": a})
    assert [c.text for c in comp.get_completions(Document("a.pi"), None)] == ["pitch"]
    assert "morph" in [c.text for c in comp.get_completions(Document("a.mo"), None)]
    assert "ramp" in [c.text for c in comp.get_completions(Document("a.cfg.ra"), None)]
