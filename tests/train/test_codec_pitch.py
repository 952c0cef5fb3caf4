"""The codec's periodicity term: it reads a period where the listener's tracker does, costs
what repeats less than its input, and is carried through `train codec` and its resumes."""
import json

import numpy as np
import pytest
import torch

from lmdmlive.model.features import f0_voicing
from lmdmlive.train.codec_pitch import normalised_difference, periodicity_loss, tracker_period
from lmdmlive.train.codec_train import train_codec
from lmdmlive.train.state import read_log
from tests.train.test_codec_training import TINY, _tone_corpus

SR = 24000


def _tone(f0=220.0, seconds=1.0, seed=0):
    t = torch.arange(int(SR * seconds)) / SR
    g = torch.Generator().manual_seed(seed)
    phases = torch.rand(6, generator=g) * 6.283
    return sum(0.3 / k * torch.sin(6.283185 * f0 * k * t + phases[k - 1]) for k in range(1, 7)).unsqueeze(0)


def _smeared(audio, seed=1):
    """The same magnitudes on a 40 ms grid with each frame's phase drawn anew: the codec's failure, made on purpose."""
    window = torch.hann_window(960)
    spec = torch.stft(audio, 960, 240, window=window, return_complex=True)
    g = torch.Generator().manual_seed(seed)
    turned = spec.abs() * torch.exp(1j * torch.rand(spec.shape, generator=g) * 6.283)
    return torch.istft(turned, 960, 240, window=window, length=audio.shape[-1])


@pytest.mark.parametrize("f0", [200.0, 220.0, 240.0, 300.0])
def test_the_period_is_the_one_the_tracker_reads(f0):
    """A steady tone repeats at every multiple of its period; the lowest of those dips often lies
    at two or three periods (200, 240 and 300 Hz divide 24 kHz), which the tracker never reads."""
    tone = _tone(f0)
    nd, level = normalised_difference(tone, SR)
    value, lag = tracker_period(nd)
    heard = SR / (lag.float() + int(SR / 1000.0))
    f0s, voiced = f0_voicing(tone[0].numpy(), SR, 480)
    assert voiced[3:-3].all() and abs(float(np.median(f0s[3:-3])) - f0) < 0.01 * f0
    assert torch.allclose(heard, torch.full_like(heard, f0), rtol=0.01), heard
    assert float(value.max()) < 0.05 and float(level.min()) > -30


def test_silence_reads_as_unrelated_and_a_quiet_copy_gets_a_bounded_gradient():
    tone = _tone()
    assert float(periodicity_loss(tone, torch.zeros_like(tone), SR)) > 0.5
    noise = torch.randn(1, SR, generator=torch.Generator().manual_seed(4))
    norms = []
    for scale in (1.0, 1e-3):
        est = (scale * (0.3 * tone + 0.03 * noise)).requires_grad_()
        periodicity_loss(tone, est, SR).backward()
        norms.append(float(est.grad.norm()))
    # the ratio alone ignores level, so without the floor the quiet copy's gradient is 1,000 times larger
    assert norms[1] < 3 * norms[0], norms


def test_what_repeats_less_than_its_input_costs_more():
    tone = _tone()
    noise = torch.randn(1, SR, generator=torch.Generator().manual_seed(2)) * 0.1
    same = float(periodicity_loss(tone, tone, SR))
    smeared = float(periodicity_loss(tone, _smeared(tone), SR))
    octave = float(periodicity_loss(tone, _tone(440.0), SR))
    unrelated = float(periodicity_loss(tone, noise, SR))
    assert same < 1e-6
    # the same partials at other phases repeat just as well: it asks for periodicity, not the waveform
    assert float(periodicity_loss(tone, _tone(seed=5), SR)) < 0.05
    assert 0.05 < smeared < unrelated and octave > 0.05, (smeared, octave, unrelated)
    # an input with no periodic frame says nothing, whatever comes out
    assert float(periodicity_loss(noise, tone, SR)) == 0.0


def test_its_gradient_turns_a_mix_towards_the_periodic_input():
    tone = _tone()
    noise = torch.randn(1, SR, generator=torch.Generator().manual_seed(3)) * 0.2
    share = torch.tensor(0.2, requires_grad=True)
    opt = torch.optim.Adam([share], lr=0.05)
    with torch.no_grad():
        start = float(periodicity_loss(tone, share * tone + (1 - share) * noise, SR))
    for _ in range(20):
        opt.zero_grad()
        loss = periodicity_loss(tone, share * tone + (1 - share) * noise, SR)
        loss.backward()
        opt.step()
    share, loss = float(share.detach()), float(loss.detach())
    assert share > 0.6 and loss < 0.5 * start, (share, start, loss)


def test_train_codec_carries_the_weight_across_a_resume(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    kwargs = dict(minutes=None, batch=2, seconds=0.4, lr=3e-3, save_every=25, config=TINY, log=lambda m: None)
    train_codec(corpus, run, steps=25, periodicity=2.0, **kwargs)
    assert json.loads((run / "last.json").read_text())["periodicity"] == 2.0
    train_codec(corpus, run, steps=50, **kwargs)             # the command without the option resumes as started
    assert json.loads((run / "last.json").read_text())["periodicity"] == 2.0
    rows = read_log(run)
    assert [r["step"] for r in rows] == [25, 50]
    assert all(r["periodicity"] > 0 for r in rows)
    plain = tmp_path / "plain"
    train_codec(corpus, plain, steps=25, **kwargs)
    assert "periodicity" not in read_log(plain)[0]
    assert json.loads((plain / "last.json").read_text())["periodicity"] == 0.0
