"""Params, prompts and stop/play: every way a performer changes a stream, and every way it goes wrong."""
from fractions import Fraction

import numpy as np
import pyo
import pytest
import torch

from lmdmlive.live.param import Param, ParamError
from lmdmlive.live.prompt import Prompt, PromptError

from .helpers import controls, play


def test_a_param_sets_ramps_patterns_and_refuses_bad_values():
    now = [Fraction(0)]
    p = Param("cfg", 2.0, 0.0, 20.0, now=lambda: now[0])
    p.set(3)
    assert p.value == 3.0
    p.ramp(7, bars=4)
    now[0] = Fraction(2)
    assert p.value == pytest.approx(5.0)
    now[0] = Fraction(9)
    assert p.value == 7.0
    p.set("<1 4>")
    assert p.at(0) == 1.0 and p.at(Fraction(3, 2)) == 4.0
    p.lfo("sine", bars=2, lo=1, hi=5)
    assert p.at(0) == pytest.approx(3.0) and p.at(Fraction(1, 2)) == pytest.approx(5.0)
    for bad in ("x", float("nan"), 1e9, -1, True, None, "<1 [2>", "1 a"):
        with pytest.raises(ValueError):
            p.set(bad)
    assert p.at(Fraction(1, 2)) == pytest.approx(5.0), "a refused value leaves the LFO running"
    with pytest.raises(ParamError, match="unknown LFO shape"):
        p.lfo("wobble")
    steps = Param("steps", 4, 1, 64, integer=True)
    with pytest.raises(ParamError, match="whole number"):
        steps.set(2.5)
    steps.set_normalized(0.5)
    assert steps.value == 32.0


def test_stream_params_take_effect_at_the_next_block(session):
    a = session.stream(torch.ones(384) * 0.1, seed=1)
    a.cfg = 3
    a.steps = 2
    assert isinstance(a.cfg, Param) and a.cfg.value == 3.0
    c = controls(session, a, 0)
    assert c.guidance == 3.0 and c.steps == 2
    with pytest.raises(ValueError, match="steps"):
        a.steps = 0
    assert a.steps.value == 2.0
    a.seed = "<5 9>"
    assert controls(session, a, 0).seed == 5 and controls(session, a, 5).seed == 9    # block 5 is in bar 2
    assert a._engine_stream.seed == 1, "the stream writes nothing into the engine"
    play(session, 0.6)
    assert session.engine.errors == 0


def test_prompts_blend_by_weight_and_morph_over_bars(session):
    embed = session.embed
    blend = Prompt("deep house") * 0.7 + Prompt("jazz piano") * 0.3
    v = blend.vector(embed)
    assert v.shape == (1, 384) and abs(float(v.norm()) - 1) < 1e-5
    a_vec, b_vec = embed("deep house"), embed("jazz piano")
    assert float((v * a_vec).sum()) > float((v * b_vec).sum())
    with pytest.raises(PromptError, match="weight"):
        Prompt("x") * -1
    with pytest.raises(PromptError, match="no such file"):
        Prompt(audio="no-such-clip.wav")
    a = session.stream("deep house", seed=1)
    a.morph("jazz piano", bars=2)
    now = session.cycle_now()
    mid = a._style_at(now + 1)
    end = a._style_at(now + 2)
    assert torch.allclose(end, b_vec, atol=1e-6)
    assert float((mid * a_vec).sum()) > float((end * a_vec).sum())
    with pytest.raises(ValueError, match="bars"):
        a.morph("x", bars=0)


def test_stop_at_and_play_at_fade_on_the_bar_and_the_stream_goes_on(session):
    a = session.stream(torch.ones(384) * 0.1, seed=2)
    table = pyo.NewTable(length=6.0)
    rec = pyo.TableRec(a, table, fadetime=0).play()
    play(session, 0.5)
    a.stop_at()                                        # 120 BPM: the next bar is at 2 s
    bar = session.quantized("bar")
    play(session, 2.5)
    assert not a.playing
    a.play_at(quant="bar")                             # the bar at 4 s
    play(session, 3.0)
    rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    sr = 48000
    start = bar - 0                                    # recorded from sample 0 of the session here
    assert np.sqrt(np.mean(out[int(1.0 * sr):int(1.9 * sr)] ** 2)) > 1e-5, "plays before the bar"
    assert np.abs(out[start + int(0.1 * sr):int(3.9 * sr)]).max() < 1e-6, "silent from the bar after the fade"
    assert np.sqrt(np.mean(out[int(4.2 * sr):int(5.5 * sr)] ** 2)) > 1e-5, "back at the next bar"
    assert a.underruns == 0 and session.engine.errors == 0
    with pytest.raises(ValueError, match="quantize"):
        a.stop_at(quant="soon")


def test_stop_and_play_mean_what_they_mean_in_pyo_now_not_at_the_bar(session):
    a = session.stream(torch.ones(384) * 0.1, seed=2)
    table = pyo.NewTable(length=3.0)
    rec = pyo.TableRec(a, table, fadetime=0).play()
    play(session, 0.75)
    assert a.stop() is a                               # now, with a 50 ms fade: not at the bar (2 s)
    play(session, 0.25)
    assert not a.playing
    assert a.play() is a                               # at 1 s, going on where it stopped
    play(session, 1.0)
    assert a.playing
    a.stop(wait=0.25)                                  # at 2.25 s
    play(session, 0.75)
    rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    sr = 48000

    def rms(a, b):
        return np.sqrt(np.mean(out[int(a * sr):int(b * sr)] ** 2))
    assert rms(0.5, 0.74) > 1e-5 and np.abs(out[int(0.82 * sr):int(0.99 * sr)]).max() < 1e-6
    assert rms(1.2, 1.95) > 1e-5, "back at once after play()"
    assert rms(2.0, 2.24) > 1e-5 and np.abs(out[int(2.32 * sr):int(2.74 * sr)]).max() < 1e-6, "stop(wait) waits"
    assert a.underruns == 0 and session.engine.errors == 0
    with pytest.raises(ValueError, match="wait is a number of seconds"):
        a.stop(wait=-1)
    b = session.stream(seed=3).stop()
    play(session, 0.1)
    assert not b.playing and b not in session.master
    assert b.out() is b                                # out() plays and sends to the master bus
    play(session, 0.1)
    assert b.playing and b in session.master


def test_pan_is_checked(session):
    a = session.stream(seed=1)
    a.pan = 0.2
    assert a.pan == pytest.approx(0.2)
    with pytest.raises(ValueError, match="pan"):
        a.pan = 2


def test_arrangement_controls_are_set_patterned_and_dropped(session):
    from lmdmlive.model.config import ARRANGEMENT_CONTROLS
    a = session.stream(seed=1)
    a.arrange(drums=0, tempo=120, density="<2 8>")
    c = controls(session, a, 0)
    assert c.arrangement == {"drums": 0.0, "tempo": 120.0, "density": 2.0}, "knobs in their own units"
    from lmdmlive.engine.controls import to_conditions
    cond = to_conditions(c, session.bundle.lmdm.cfg)
    i = {n: k for k, n in enumerate(ARRANGEMENT_CONTROLS)}
    assert cond.arrangement_mask[0].tolist() == [1, 0, 0, 0, 1, 0, 1]
    assert cond.arrangement[0, i["drums"]] == 0 and cond.arrangement[0, i["tempo"]] == pytest.approx(0.5)
    assert cond.arrangement[0, i["density"]] == pytest.approx(0.25)          # 2 notes/s on the log scale
    with pytest.raises(ValueError, match="unknown arrangement control"):
        a.arrange(cowbell=1)
    with pytest.raises(ValueError, match="outside"):
        a.arrange(tempo=400, drums=1)
    assert a.arrangement["drums"].value == 0, "a refused call changes nothing"
    a.arrange(drums=None)
    assert "drums" not in controls(session, a, 0).arrangement
    a.arrange(drums=1)
    a.arrangement["drums"].ramp(0, bars=4)
    play(session, 0.5)
    assert session.engine.errors == 0


def test_the_session_records_its_streams_through_an_effect(session, tmp_path):
    import soundfile as sf
    a = session.stream(torch.ones(384) * 0.1, seed=3)
    verb = pyo.Freeverb(a, size=0.6, bal=0.4)
    rec = session.record(tmp_path / "set.wav", verb)
    play(session, 1.0)
    rec.stop()
    audio, rate = sf.read(tmp_path / "set.wav")
    assert rate == 48000 and len(audio) >= 0.9 * 48000 and np.sqrt(np.mean(audio ** 2)) > 1e-5
