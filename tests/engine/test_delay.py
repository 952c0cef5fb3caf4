"""The generative delay: live input answered N blocks later, through the codec or through sketch curves."""
import numpy as np
import pyo
import pytest
import soundfile as sf
import soxr
import torch

from lmdmlive.audio.capture import Capture
from lmdmlive.engine.worker import Engine
from lmdmlive.model import LMDM, LMDMConfig, SKETCH_CURVES, load_codec
from lmdmlive.model.default import DEFAULT_CODEC, ModelBundle

from .test_engine import BS, SR, small_bundle

I = {n: i for i, n in enumerate(SKETCH_CURVES)}


def real_codec_bundle() -> ModelBundle:
    """The shipped codec (so that what comes back is what was played) and a small LMDM."""
    torch.manual_seed(0)
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=32)).eval()
    return ModelBundle(lmdm, load_codec(DEFAULT_CODEC).eval(), trained=False, source="test")


def bursts(path, seconds, seed=0):
    """Tones of random pitch, length and level with gaps: an envelope with no period."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR), dtype=np.float32)
    t = 0.1
    while t < seconds - 0.5:
        dur = rng.uniform(0.08, 0.4)
        n = int(dur * SR)
        f = rng.uniform(200, 800)
        env = np.minimum(1, np.arange(n) / 200) * np.exp(-np.arange(n) / (0.5 * n))
        i = int(t * SR)
        out[i:i + n] += (rng.uniform(0.1, 0.5) * env * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)
        t += dur + rng.uniform(0.05, 0.5)
    sf.write(path, out, SR)
    return out


def envelope(x, frame=480):
    n = len(x) // frame
    return np.sqrt((x[:n * frame].reshape(n, frame) ** 2).mean(axis=1))


def run(server, engine, seconds, recorded):
    table = pyo.NewTable(length=seconds)
    rec = pyo.TableRec(recorded, table, fadetime=0).play()
    for _ in range(int(seconds * SR / BS)):
        while engine.step():
            pass
        server.process()
    rec.stop()
    return np.asarray(table.getBuffer()).copy()


def test_a_strength_zero_delay_gives_back_the_input_n_blocks_later(manual_server, tmp_path):
    played = bursts(tmp_path / "in.wav", 8.0)
    source = pyo.SfPlayer(str(tmp_path / "in.wav"))
    engine = Engine(real_codec_bundle(), SR, steps=1, guidance=1.0)
    delay = engine.add_delay(Capture(source), delay_blocks=4, route="latent", strength=0.0)
    out = run(manual_server, engine, 8.0, delay.player)
    assert engine.metrics()["underruns"] == 0 and engine.errors == 0
    # What the codec makes of the input on its own, offline: the delay must give back that.
    codec = engine.bundle.codec
    x = soxr.resample(played, SR, codec.cfg.sample_rate).astype(np.float32)
    x = x[:len(x) // codec.cfg.hop * codec.cfg.hop]
    with torch.no_grad():
        through = soxr.resample(codec.decode(codec.encode(torch.from_numpy(x)[None]))[0].numpy(), codec.cfg.sample_rate, SR)
    a, b, ref = np.log(envelope(played) + 1e-4), np.log(envelope(out) + 1e-4), np.log(envelope(through) + 1e-4)
    n = len(a) - 300

    def corr(x, y, lag):
        return np.corrcoef(x[:n], y[lag:lag + n])[0, 1]

    lags = range(0, 300)                                         # 10 ms frames: 0 .. 3 s
    with_input = [corr(a, b, lag) for lag in lags]
    best = int(np.argmax(with_input))
    expected = round(4 * 0.48 / 0.01)
    assert abs(best - expected) <= 3, (best, expected)
    assert with_input[best] > 0.7, with_input[best]
    assert np.median(with_input) < 0.4 * with_input[best]        # elsewhere the envelopes do not line up
    assert corr(ref, b, expected) > 0.95                         # block by block = the codec offline
    assert np.sqrt(np.mean(out[:int(1.8 * SR)] ** 2)) < 1e-3   # nothing before the first echo


def test_the_sketch_route_follows_the_players_loudness(manual_server, tmp_path):
    quiet_then_loud = np.concatenate([0.01 * np.sin(2 * np.pi * 330 * np.arange(2 * SR) / SR),
                                      0.5 * np.sin(2 * np.pi * 330 * np.arange(2 * SR) / SR)]).astype(np.float32)
    sf.write(tmp_path / "ql.wav", quiet_then_loud, SR)
    engine = Engine(real_codec_bundle(), SR, steps=1, guidance=1.0)
    delay = engine.add_delay(Capture(pyo.SfPlayer(str(tmp_path / "ql.wav"))), delay_blocks=3, route="sketch")
    run(manual_server, engine, 4.0, delay.player)
    quiet = delay.delay.for_output(3 + 1).lanes["loud"].mean()      # input block 1 (0.5-1 s)
    loud = delay.delay.for_output(3 + 6).lanes["loud"].mean()       # input block 6 (2.9-3.4 s)
    assert loud - quiet > 22                                     # dB: a 0.01 then a 0.5 sine, about 34 dB apart
    lanes = delay.delay.for_output(3 + 6).lanes
    voiced = lanes["voiced"] > 0.5
    assert voiced.sum() >= 10 and np.isnan(lanes["pitch"][~voiced]).all()
    assert np.allclose(lanes["pitch"][voiced], 64.0, atol=0.6)   # 330 Hz is E4
    # the engine plays them as the stream's lanes, the performer gave none (asked again for block 9)
    delay.blocks = 3 + 6
    p = engine._plan(delay)
    assert np.array_equal(p.controls.loud_db, lanes["loud"]) and p.controls.voiced is lanes["voiced"]
    assert p.cond.sketch_mask[0, :, I["loud"]].all()


def test_two_streams_and_a_delay_render_together(manual_server, tmp_path):
    bursts(tmp_path / "in.wav", 5.0, seed=1)
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0)
    a, b = engine.add_stream(seed=1), engine.add_stream(seed=2)
    d = engine.add_delay(Capture(pyo.SfPlayer(str(tmp_path / "in.wav"))), delay_blocks=3, route="sketch", seed=3)
    out = run(manual_server, engine, 5.0, pyo.Mix([a.player, b.player, d.player], voices=1))
    m = engine.metrics()
    assert m["underruns"] == 0 and m["errors"] == 0
    assert d.blocks >= 9 and a.blocks >= 9
    assert np.sqrt(np.mean(out[SR:] ** 2)) > 1e-4


def test_a_delay_shorter_than_the_engine_can_honour_is_refused(manual_server):
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0)
    with pytest.raises(ValueError, match="at least 3 blocks"):
        engine.add_delay(Capture(pyo.Sig(0)), delay_blocks=1)
    with pytest.raises(ValueError, match="unknown delay route"):
        engine.add_delay(Capture(pyo.Sig(0)), delay_blocks=4, route="reverse")


def test_a_prompt_change_is_crossfaded_over_the_next_block(manual_server):
    from lmdmlive.engine.controls import BlockControls
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0, crossfade_blocks=1)
    s = engine.add_stream(seed=0)
    a, b = torch.zeros(1, 384), torch.ones(1, 384)
    s.set_controls(BlockControls(style=a))
    assert torch.equal(engine._plan(s).cond.style, a)
    s.set_controls(BlockControls(style=b))
    assert torch.allclose(engine._plan(s).cond.style, 0.5 * b)      # halfway in the first block
    assert torch.equal(engine._plan(s).cond.style, b)               # there in the next
    assert torch.equal(engine._plan(s).cond.style, b)
    s.set_controls(BlockControls(style=a, arrangement={"tempo": 180}))
    halfway = engine._plan(s).cond
    assert torch.allclose(halfway.style, 0.5 * b) and halfway.arrangement[0, -1] == 1.0, \
        "a knob given for the first time is no change to glide from"
