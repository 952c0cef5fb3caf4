"""ARC-Forcing's parts: rollouts carry gradients only where they should; the discriminator learns; runs resume."""
import random

import torch

from lmdmlive.model import Conditions, save_checkpoint
from lmdmlive.train.arc import LatentDiscriminator, relativistic, rollout, train_arc
from lmdmlive.train.state import read_log

from .test_lmdm_training import TINY, setup  # noqa: F401  (the module fixture)
from ..model.helpers import small_lmdm


def test_a_rollout_is_what_generation_does_and_only_last_steps_carry_gradients():
    model = small_lmdm()                                      # blocks of 4 frames, 3 blocks of context
    context = torch.randn(2, 8, 8)
    cond = Conditions(style=torch.randn(2, 384))
    out = rollout(model, context, cond, blocks=3, rng=random.Random(0))
    assert out.shape == (2, 12, 8) and out.requires_grad
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_the_discriminator_learns_real_from_fake_and_its_prompt_from_another():
    torch.manual_seed(0)
    d = LatentDiscriminator(8)
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    styles = torch.nn.functional.normalize(torch.randn(2, 384), dim=-1)
    for _ in range(150):
        real = torch.sin(torch.linspace(0, 6, 16))[None, :, None].expand(8, 16, 8) + 0.1 * torch.randn(8, 16, 8)
        real = real * torch.tensor([1.0, -1.0]).repeat(4)[:, None, None]       # the prompt decides the sign
        style = styles.repeat(4, 1)
        fake = torch.randn(8, 16, 8)
        loss = relativistic(d(real, style), d(fake, style)) + relativistic(d(real, style), d(real, style.roll(1, 0)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (d(real, style) > d(fake, style)).float().mean() > 0.9
        assert (d(real, style) > d(real, style.roll(1, 0))).float().mean() > 0.9


def test_train_arc_runs_logs_and_resumes(setup, tmp_path):
    corpus, codec_path, _ = setup
    model = small_lmdm(**{k: v for k, v in TINY.items() if k not in ("d_model", "n_layers", "n_heads")})
    save_checkpoint(model, model.cfg, tmp_path / "init", "lmdm")
    run = tmp_path / "arc"
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=3, batch=2, context_blocks=2, rollout_blocks=2,
              log=lambda m: None)
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=5, batch=2, context_blocks=2, rollout_blocks=2,
              export=tmp_path / "after", log=lambda m: None)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(set(r) >= {"d_loss", "g_loss", "d_real", "d_fake"} for r in rows)
    assert (tmp_path / "after.safetensors").exists()
