"""The training forwards compute what generation computes, for every block at once."""
import torch

from lmdmlive.model import Conditions

from .helpers import small_lmdm

BF, D = 4, 8


def _window_cond(batch, frames, seed=3):
    g = torch.Generator().manual_seed(seed)
    return Conditions(style=torch.randn(batch, 384, generator=g),
                      sketch=torch.randn(batch, frames, 5, generator=g),
                      sketch_mask=(torch.rand(batch, frames, 5, generator=g) > 0.3).float(),
                      audio=torch.randn(batch, frames, D, generator=g),
                      audio_mask=torch.ones(batch, frames),
                      arrangement=torch.rand(batch, 7, generator=g))


def _block(cond, i):
    sl = slice(i * BF, (i + 1) * BF)
    return Conditions(style=cond.style, sketch=cond.sketch[:, sl], sketch_mask=cond.sketch_mask[:, sl],
                      audio=cond.audio[:, sl], audio_mask=cond.audio_mask[:, sl], arrangement=cond.arrangement)


def test_paired_forward_equals_naive_generation_of_each_block_past_the_window():
    model = small_lmdm()                       # window: 3 context blocks
    n = 6
    clean = torch.randn(2, n * BF, D)
    noisy = torch.randn(2, n * BF, D)
    t = torch.rand(2, n)
    cond = _window_cond(2, n * BF)
    with torch.no_grad():
        paired = model.forward_paired(clean, noisy, t, cond)
        for i in range(n):
            naive = model.forward_naive(clean[:, :i * BF], noisy[:, i * BF:(i + 1) * BF], t[:, i], _block(cond, i))
            assert torch.allclose(paired[:, i * BF:(i + 1) * BF], naive, atol=1e-5, rtol=1e-4), i


def test_paired_forward_ignores_clean_frames_of_the_block_itself_and_later():
    model = small_lmdm()
    clean = torch.randn(1, 4 * BF, D)
    noisy = torch.randn(1, 4 * BF, D)
    t = torch.full((1, 4), 0.5)
    cond = _window_cond(1, 4 * BF)
    changed = clean.clone()
    changed[:, 2 * BF:] += 5.0                 # blocks 2 and 3 change
    with torch.no_grad():
        a = model.forward_paired(clean, noisy, t, cond)
        b = model.forward_paired(changed, noisy, t, cond)
    assert torch.allclose(a[:, :3 * BF], b[:, :3 * BF], atol=1e-6)       # blocks 0-2 never saw them
    assert not torch.allclose(a[:, 3 * BF:], b[:, 3 * BF:], atol=1e-3)   # block 3 sees block 2


def test_window_forward_is_bidirectional_and_position_free():
    model = small_lmdm()
    x = torch.randn(1, 3 * BF, D)
    cond = _window_cond(1, 3 * BF)
    with torch.no_grad():
        a = model.forward_window(x, torch.tensor([0.5]), cond)
        later = x.clone()
        later[:, -1] += 3.0
        b = model.forward_window(later, torch.tensor([0.5]), cond)
    assert not torch.allclose(a[:, 0], b[:, 0], atol=1e-4)     # the first frame hears the last


def test_latent_standardisation_round_trips():
    model = small_lmdm()
    model.latent_mean.fill_(0.3)
    model.latent_std.fill_(2.0)
    z = torch.randn(1, BF, D)
    assert torch.allclose(model.to_codec(model.from_codec(z)), z, atol=1e-6)
