"""The harmonic branch: partials that a pitch tracker hears at the note it names, also between bins."""
import numpy as np
import pytest
import torch

from lmdmlive.model import Codec, CodecConfig
from lmdmlive.model.codec_harmonic import LOWEST_NOTE, NOTES, harmonic_losses, hz_note_class
from lmdmlive.model.config import ConfigError
from lmdmlive.model.features import f0_voicing
from lmdmlive.train.codec_grow import grown
from lmdmlive.train.codec_pitch import harmonic_targets

SMALL = dict(channels=32, encoder_layers=1, decoder_layers=1, latent_dim=8)


def _naming(codec: Codec, midi: int, offset: float) -> None:
    """Make the branch name one note (with a fine offset) on every frame, partials falling off as 1/k."""
    head = codec.dec_harmonic.head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[midi - LOWEST_NOTE] = 10.0
        head.bias[NOTES] = float(np.arctanh(2 * offset))
        head.bias[NOTES + 1] = 10.0
        k = codec.cfg.harmonics
        head.bias[NOTES + 2:] = torch.log(0.3 / torch.arange(1, k + 1).float())
        codec.dec_harmonic.level.fill_(1.0)


# 220 Hz is 8.8 bins of 25 Hz; 56.4 is 212.5 Hz, half-way between bins 8 and 9; 45.6 is 113.9 Hz
# (4.56 bins); 72.2 is 529.3 Hz; 36 is 65.4 Hz and 40.3 is 84.8 Hz, bass whose partials are 2.6 and 3.4 bins apart
@pytest.mark.parametrize("midi, offset", [(57, 0.0), (56, 0.4), (46, -0.4), (72, 0.2), (36, 0.0), (40, 0.3)])
def test_the_tracker_hears_the_named_note_also_between_bins(midi, offset):
    codec = Codec(CodecConfig(**SMALL, harmonics=8)).eval()
    _naming(codec, midi, offset)
    with torch.no_grad():
        spec, named, _ = codec.dec_harmonic.spectrum(torch.zeros(1, 200, 32))
        audio, _ = codec.overlap_add(spec)
    f0, voiced = f0_voicing(audio[0].numpy(), 24000, 240)
    want = 440 * 2 ** ((midi + offset - 69) / 12)
    inner = slice(10, 190)
    cents = 1200 * np.abs(np.log2(np.maximum(f0[inner], 1e-3) / want))
    assert voiced[inner].mean() > 0.95
    assert (cents < 20).mean() > 0.95
    assert torch.allclose(named["f0"], torch.full_like(named["f0"], want), rtol=1e-4)


def test_a_stream_of_blocks_equals_the_whole_decode():
    torch.manual_seed(0)
    codec = Codec(CodecConfig(**SMALL, harmonics=6)).eval()
    with torch.no_grad():
        codec.dec_harmonic.level.fill_(1.0)
        codec.dec_harmonic.head.weight.normal_(std=0.3)    # notes and partials that change from frame to frame
    z = torch.randn(1, 30, 8)
    whole = codec.decode(z)
    stream = codec.stream_decoder()
    parts = torch.cat([stream(z[:, i:i + 7]) for i in range(0, 30, 7)], dim=1)
    assert whole.abs().max() > 1e-3
    assert torch.allclose(parts, whole, atol=2e-4)


def test_a_codec_grown_with_the_branch_sounds_as_before():
    torch.manual_seed(1)
    start = Codec(CodecConfig(**SMALL)).eval()
    cfg = CodecConfig(**SMALL, harmonics=8)
    wider = Codec(cfg).eval()
    wider.load_state_dict(grown(cfg, start))
    z = torch.randn(2, 10, 8)
    with torch.no_grad():
        assert torch.equal(wider.decode(z), start.decode(z))
    # and it can learn: the level (0 at the start) gets a gradient from a loss on the audio
    wider.train()
    out = wider.decode_with_phase(z)
    (out[0] - start.decode(z).detach() + 0.1).pow(2).mean().backward()
    assert wider.dec_harmonic.level.grad is not None and wider.dec_harmonic.level.grad.abs() > 0


def test_the_spectral_losses_reach_the_partials_with_the_right_gradient():
    """Autograd against central differences of a loss on the audio, through the gate and each
    partial's amplitude (the lobe's bins alternate in sign: a negative magnitude handed to polar()
    would flip them). The fine offset's gradient is partial by design: the phase turns are not
    differentiated (codec_harmonic.py)."""
    torch.manual_seed(2)
    codec = Codec(CodecConfig(**SMALL, harmonics=4)).double().eval()
    _naming(codec, 57, 0.2)
    head = codec.dec_harmonic.head
    r = torch.randn(1, 40 * 240, dtype=torch.float64)

    def loss():
        spec, _, _ = codec.dec_harmonic.spectrum(torch.zeros(1, 40, 32, dtype=torch.float64))
        return (codec.overlap_add(spec)[0] * r).sum()

    loss().backward()
    for j in range(NOTES + 1, NOTES + 6):                          # the gate, then each partial's amplitude
        with torch.no_grad():
            head.bias[j] += 1e-4
            up = float(loss())
            head.bias[j] -= 2e-4
            down = float(loss())
            head.bias[j] += 1e-4
        numeric = (up - down) / 2e-4
        assert float(head.bias.grad[j]) == pytest.approx(numeric, rel=1e-3, abs=1e-6), j


def test_a_partial_exactly_on_a_bin_keeps_its_gradients_finite():
    codec = Codec(CodecConfig(**SMALL, harmonics=5)).eval()
    _naming(codec, 45, 0.0)                          # 110 Hz: its fifth partial is bin 22 exactly
    spec, _, _ = codec.dec_harmonic.spectrum(torch.zeros(1, 20, 32))
    codec.overlap_add(spec)[0].pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in codec.dec_harmonic.parameters())


def test_the_targets_hear_a_note_change_where_the_decoder_plays_it():
    rate, hop = 24000, 240
    x = np.arange(rate)
    wave = torch.from_numpy((0.3 * np.where(x < 12000, np.sin(2 * np.pi * 220 * x / rate),
                                            np.sin(2 * np.pi * 330 * x / rate))).astype(np.float32))[None]
    for delay in (0, 3):
        f0, voiced, known = harmonic_targets(wave, 100, rate, hop, delay)
        note = hz_note_class(f0 * voiced)[0]
        # decoder frame f is centred at f * hop + 2 * hop - delay * hop of the input: the change
        # (sample 12,000) falls in frame 48 + delay
        last_old = int(np.flatnonzero((note == 57 - LOWEST_NOTE).numpy()).max())
        first_new = int(np.flatnonzero((note == 64 - LOWEST_NOTE).numpy()).min())
        assert abs((last_old + first_new) / 2 - (48 + delay)) <= 0.5, (delay, last_old, first_new)
        assert int(known[0].sum()) == 100 - (3 - delay)        # frames past the crop are not known


def test_the_targets_and_losses_read_the_input_note():
    rate, hop = 24000, 240
    t = np.arange(rate) / rate
    tone = sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6)).astype(np.float32)
    wave = torch.from_numpy(np.stack([tone, np.zeros_like(tone)]))
    f0, voiced, known = harmonic_targets(wave, 100, rate, hop, delay=3)
    assert voiced[0, 10:90].mean() > 0.95 and voiced[1].sum() == 0
    assert (hz_note_class(f0 * voiced)[0, 10:90] == 57 - LOWEST_NOTE).float().mean() > 0.95
    assert (hz_note_class(f0 * voiced)[1] == -100).all()
    logits = torch.zeros(2, 100, NOTES)
    right = logits.clone()
    right[0, :, 57 - LOWEST_NOTE] = 8.0
    gate = torch.where(voiced > 0, 6.0, -6.0)
    named = {"note_logits": logits, "gate_logit": torch.zeros(2, 100)}
    good = {"note_logits": right, "gate_logit": gate}
    bad, fine = harmonic_losses(named, f0, voiced, known), harmonic_losses(good, f0, voiced, known)
    assert fine["note"] < 0.05 < bad["note"] and fine["voicing"] < 0.05 < bad["voicing"]


def test_a_harmonic_count_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="harmonics must be 0"):
        Codec(CodecConfig(**SMALL, harmonics=-1))


def test_train_codec_grows_the_branch_on_a_frozen_encoder_and_teaches_it_the_notes(tmp_path):
    import dataclasses
    from lmdmlive.model import load_codec, save_checkpoint
    from lmdmlive.train.codec_train import train_codec
    from lmdmlive.train.state import read_log
    from tests.train.test_codec_training import TINY, _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    torch.manual_seed(4)
    start = Codec(TINY).eval()
    save_checkpoint(start, TINY, tmp_path / "start", "codec", extra={"steps": 10})
    cfg = dataclasses.replace(TINY, harmonics=6)
    train_codec(corpus, tmp_path / "run", steps=100, minutes=None, batch=4, seconds=0.4, lr=3e-3, save_every=50,
                config=cfg, init=tmp_path / "start", freeze_encoder=True, export=tmp_path / "out",
                log=lambda m: None)
    rows = read_log(tmp_path / "run")
    assert rows[-1]["note"] < 0.6 * rows[0]["note"], [(r["note"], r["voicing"]) for r in rows]
    out = load_codec(tmp_path / "out")
    assert out.cfg.harmonics == 6
    wave = torch.from_numpy(np.sin(2 * np.pi * 330 * np.arange(9600) / 24000).astype(np.float32))[None] * 0.3
    with torch.no_grad():
        assert torch.equal(start.encode(wave), out.encode(wave))        # the latents did not move


@pytest.mark.parametrize("teacher, want_hz", [(True, 220.0), (False, 329.63)])
def test_under_teacher_forcing_the_partials_play_the_inputs_note(teacher, want_hz):
    """The head names E4 everywhere; taught, the branch plays the input's A3 instead, on the frames
    the tracker voices (so the amplitudes learn against the right f0 before the head has it)."""
    from lmdmlive.train.codec_train import reconstruction_losses
    torch.manual_seed(0)
    codec = Codec(CodecConfig(**SMALL, harmonics=8)).eval()
    _naming(codec, 64, 0.0)
    t = np.arange(24000) / 24000
    tone = sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6)).astype(np.float32)
    with torch.no_grad():
        losses, recon = reconstruction_losses(codec, torch.from_numpy(tone)[None], sample=False,
                                              harmonic_teacher=teacher)
    assert losses["note"] > 1.0                     # the head itself still names the wrong note
    f0, voiced = f0_voicing(recon[0].numpy(), 24000, 240)
    inner = slice(10, 90)
    cents = 1200 * np.abs(np.log2(np.maximum(f0[inner], 1e-3) / want_hz))
    assert voiced[inner].mean() > 0.9 and (cents < 20).mean() > 0.9, (voiced[inner].mean(), np.median(f0[inner]))


def test_teacher_forcing_without_a_branch_is_refused(tmp_path):
    from lmdmlive.train.codec_train import train_codec
    with pytest.raises(ValueError, match="--harmonic-teacher and --harmonic-duck need a harmonic branch"):
        train_codec(tmp_path / "corpus", tmp_path / "run", steps=1, minutes=None, config=CodecConfig(**SMALL),
                    harmonic_teacher=0.5, log=lambda m: None)


def test_train_codec_carries_the_teacher_share_across_a_resume_and_logs_what_it_drew(tmp_path):
    import dataclasses
    import json
    from lmdmlive.train.codec_train import train_codec
    from lmdmlive.train.state import read_log
    from tests.train.test_codec_training import TINY, _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    kwargs = dict(minutes=None, batch=2, seconds=0.4, lr=3e-3, save_every=25,
                  config=dataclasses.replace(TINY, harmonics=4), log=lambda m: None)
    train_codec(corpus, run, steps=25, harmonic_teacher=1.0, **kwargs)
    train_codec(corpus, run, steps=50, **kwargs)             # the command without the option resumes as started
    assert json.loads((run / "last.json").read_text())["harmonic_teacher"] == 1.0
    rows = read_log(run)
    assert [r["step"] for r in rows] == [25, 50] and all(r["taught"] for r in rows)
    assert all("harmonic_level" in r for r in rows)


def test_ducking_clears_the_decoders_own_bins_under_the_partials_and_nowhere_else():
    """With `duck` at 1, a voiced branch's lobes replace what the decoder put there, so a partial's
    amplitude is what the loss hears in its bins (from 0, added at an unrelated phase, it is not)."""
    torch.manual_seed(0)
    codec = Codec(CodecConfig(**SMALL, harmonics=4)).eval()
    _naming(codec, 57, 0.0)                  # 220 Hz: partials at 8.8, 17.6, 26.4 and 35.2 bins
    z = torch.randn(1, 6, 8)
    branch = codec.dec_harmonic
    with torch.no_grad():
        mag, phase, h, _ = codec.decoder_polar(z, None)
        plain = torch.polar(mag, phase)
        extra, named, _ = branch.spectrum(h)
        assert named["cover"] is None                               # duck 0: the decoder as it was
        branch.duck.fill_(1.0)
        extra, named, _ = branch.spectrum(h)
    cover = named["cover"][0, 0]
    near = torch.tensor([8, 9, 17, 18, 26, 27, 35])                # each partial's two nearest bins
    assert (cover[near] > 0.45).all() and cover.max() <= 1.0
    far = torch.ones_like(cover, dtype=torch.bool)
    far[torch.arange(7, 38)] = False
    assert (cover[far] == 0).all()
    mixed = plain * (1 - named["cover"]) + extra
    assert torch.allclose(mixed[0, :, far], plain[0, :, far])
    # a closed gate (unvoiced) gives nothing back to the branch
    with torch.no_grad():
        branch.head.bias[NOTES + 1] = -10.0
        _, closed, _ = branch.spectrum(h)
    assert closed["cover"].max() < 1e-3


def test_train_codec_wakes_a_silent_branch_when_it_ducks(tmp_path):
    import dataclasses
    from lmdmlive.model import load_codec
    from lmdmlive.train.codec_train import train_codec
    from tests.train.test_codec_training import TINY, _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    said = []
    train_codec(corpus, tmp_path / "run", steps=2, minutes=None, batch=2, seconds=0.4, save_every=2,
                config=dataclasses.replace(TINY, harmonics=4), harmonic_duck=1.0, export=tmp_path / "out",
                log=said.append)
    out = load_codec(tmp_path / "out")
    assert float(out.dec_harmonic.duck) == 1.0 and abs(float(out.dec_harmonic.level.detach()) - 1.0) < 0.1
    assert any("woken at level 1" in m for m in said)


def test_a_branch_saved_before_ducking_existed_loads_not_ducking():
    codec = Codec(CodecConfig(**SMALL, harmonics=4))
    state = {k: v for k, v in codec.state_dict().items() if k != "dec_harmonic.duck"}
    again = Codec(CodecConfig(**SMALL, harmonics=4))
    with torch.no_grad():
        again.dec_harmonic.duck.fill_(1.0)
    again.load_state_dict(state)
    assert float(again.dec_harmonic.duck) == 0.0


@pytest.mark.parametrize("midi, offset", [(57, 0.0), (56, 0.4), (36, 0.0)])
def test_a_partial_played_at_an_amplitude_reads_back_as_that_amplitude(midi, offset):
    """The amplitude target is read from the input's spectra in the branch's own units: the
    branch's own output, analysed, gives back what it played (between bins too, and in the bass)."""
    from lmdmlive.model.codec_harmonic import partial_amplitudes
    from lmdmlive.train.codec_phase import heard_frames
    codec = Codec(CodecConfig(**SMALL, harmonics=4)).eval()
    _naming(codec, midi, offset)
    with torch.no_grad():
        spec, named, _ = codec.dec_harmonic.spectrum(torch.zeros(1, 120, 32))
        audio, _ = codec.overlap_add(spec)
        heard = heard_frames(codec, audio, 120)
        got, playable = partial_amplitudes(heard, named["f0"][:, :heard.shape[1]], 4, codec.cfg.n_fft, 24000)
    inner = got[0, 20:100]
    want = named["amplitude"][0, 20:100]
    assert bool(playable.all())
    assert torch.allclose(inner, want, rtol=0.12), (inner.mean(0), want.mean(0))


def test_the_branch_is_taught_its_partials_amplitudes_and_a_silent_one_is_told_so():
    from lmdmlive.train.codec_train import reconstruction_losses
    player = Codec(CodecConfig(**SMALL, harmonics=8)).eval()
    _naming(player, 57, 0.0)
    with torch.no_grad():                  # the input: A3 with its partials at 0.3 / k, as the branch plays them
        spec, _, _ = player.dec_harmonic.spectrum(torch.zeros(1, 100, 32))
        tone, _ = player.overlap_add(spec)
    losses = {}
    for name, log_amp in (("silent", -9.0), ("right", None)):
        codec = Codec(CodecConfig(**SMALL, harmonics=8)).eval()
        _naming(codec, 57, 0.0)
        if log_amp is not None:
            with torch.no_grad():
                codec.dec_harmonic.head.bias[NOTES + 2:] = log_amp
        with torch.no_grad():
            losses[name] = float(reconstruction_losses(codec, tone, sample=False)[0]["amplitude"])
    assert losses["silent"] > 4.0 and losses["right"] < 0.3, losses
