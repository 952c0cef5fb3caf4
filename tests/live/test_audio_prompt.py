"""A clip is a prompt: rendered grooves land next to the words that describe them, and blend with text."""
import numpy as np
import pytest
import soundfile as sf

from lmdmlive.live.prompt import Prompt
from lmdmlive.live.session import Session
from lmdmlive.model import LMDM, LMDMConfig, load_codec
from lmdmlive.model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CODEC, ModelBundle
from lmdmlive.train.corpus.grooves import make_groove
from lmdmlive.train.corpus.render import render_midi


@pytest.fixture
def real_codec_session(manual_server):
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=32)).eval()
    bundle = ModelBundle(lmdm, load_codec(DEFAULT_CODEC).eval(), trained=False, source="test")
    s = Session(server=manual_server, bundle=bundle, steps=1, guidance=1.0)
    yield s
    for st in list(s.engine.streams):
        s.engine.remove_stream(st)


def test_rendered_grooves_land_next_to_their_own_words(real_codec_session, tmp_path):
    assert DEFAULT_AUDIO_PROMPT.with_suffix(".safetensors").exists(), "the audio-prompt encoder ships in assets"
    clips = {}
    for style in ("techno", "ambient"):
        groove = make_groove(style, 3, bars=8)
        audio = render_midi(groove.midi, 12.0, 24000)
        sf.write(tmp_path / f"{style}.wav", audio, 24000)
        clips[style] = real_codec_session.embed_audio(tmp_path / f"{style}.wav")
    words = {"techno": real_codec_session.embed("dark techno with drums and synth bass, fast"),
             "ambient": real_codec_session.embed("calm ambient with warm pads, slow, sparse")}
    sim = {(c, w): float((clips[c] * words[w]).sum()) for c in clips for w in words}
    assert sim[("techno", "techno")] > sim[("ambient", "techno")], sim
    assert sim[("ambient", "ambient")] > sim[("techno", "ambient")], sim
    for v in clips.values():
        assert v.shape == (1, 384) and abs(float(v.norm()) - 1) < 1e-5
    # A blend of a clip and words lies between them.
    blend = (Prompt(audio=tmp_path / "techno.wav") * 0.5 + Prompt("calm ambient with warm pads, slow, sparse") * 0.5)
    v = blend.vector(real_codec_session.embed, real_codec_session.embed_audio)
    assert float((v * clips["techno"]).sum()) > float((words["ambient"] * clips["techno"]).sum())
    a = real_codec_session.stream(blend, seed=1)
    assert a.prompt is blend


def test_an_unreadable_clip_is_named(real_codec_session, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nothing")
    with pytest.raises(ValueError, match="broken.wav.*cannot read"):
        real_codec_session.embed_audio(bad)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(1000, dtype=np.float32), 24000)
    with pytest.raises(ValueError, match="shorter than one second"):
        real_codec_session.embed_audio(short)
