"""A model trained on a narrower codec's latents starts on a wider codec's as it was: it plays
the channels it knew the same, reads the new ones as nothing and predicts none of them."""
import pytest
import torch

from lmdmlive.model import LMDM, Conditions, LMDMConfig

TINY = dict(d_model=32, n_layers=1, n_heads=2, block_frames=4, context_blocks=2)


def _trained(latent_dim):
    torch.manual_seed(0)
    model = LMDM(LMDMConfig(**TINY, latent_dim=latent_dim)).eval()
    for p in model.parameters():                          # adaLN-zero starts as the identity; make it matter
        p.data.normal_(0, 0.1)
    model.latent_mean.normal_()
    model.latent_std.uniform_(0.5, 2.0)
    return model


def test_a_narrow_state_widens_and_plays_its_own_channels_the_same():
    old = _trained(4)
    wide = LMDM(LMDMConfig(**TINY, latent_dim=6)).eval()
    assert wide.load_grown(old.state_dict()) == []
    g = torch.Generator().manual_seed(1)
    ctx, x = torch.randn(1, 8, 6, generator=g), torch.randn(1, 4, 6, generator=g)
    audio = torch.randn(1, 4, 6, generator=g)
    t = torch.tensor([0.5])

    def cond(a):
        return Conditions(audio=a, audio_mask=torch.ones(1, 4))
    with torch.no_grad():
        before = old.forward_naive(ctx[..., :4], x[..., :4], t, cond(audio[..., :4]))
        after = wide.forward_naive(ctx, x, t, cond(audio))
    assert torch.allclose(after[..., :4], before, atol=1e-6)
    assert torch.equal(after[..., 4:], torch.zeros(1, 4, 2))
    assert torch.equal(wide.latent_mean[:4], old.latent_mean) and torch.equal(wide.latent_std[:4], old.latent_std)
    assert torch.equal(wide.latent_std[4:], torch.ones(2))
    with torch.no_grad():                                 # the new channels are read once training teaches it to
        wide.in_proj.weight[:, 4:].normal_()
        assert not torch.allclose(wide.forward_naive(ctx, x, t, cond(audio))[..., :4], before, atol=1e-4)


def test_a_wider_state_does_not_narrow():
    narrow = LMDM(LMDMConfig(**TINY, latent_dim=4))
    with pytest.raises(ValueError, match="cannot widen"):
        narrow.load_grown(_trained(6).state_dict())


def test_a_state_of_another_size_names_what_does_not_fit():
    other = LMDM(LMDMConfig(**{**TINY, "d_model": 16}, latent_dim=4))
    with pytest.raises(ValueError, match="does not fit the model's"):
        LMDM(LMDMConfig(**TINY, latent_dim=4)).load_grown(other.state_dict())


def test_a_deeper_model_grown_from_a_shallow_one_plays_the_same_and_its_new_blocks_learn():
    shallow = _trained(4)
    deep = LMDM(LMDMConfig(**{**TINY, "n_layers": 3}, latent_dim=4))
    assert deep.load_grown(shallow.state_dict()) == []
    for name in ("attn.proj.weight", "mlp.2.bias"):
        assert not deep.state_dict()[f"blocks.1.{name}"].any() and not deep.state_dict()[f"blocks.2.{name}"].any()
    assert deep.state_dict()["blocks.2.attn.qkv.weight"].std() > 0      # inner weights keep a random start
    g = torch.Generator().manual_seed(1)
    ctx, x, t = torch.randn(1, 8, 4, generator=g), torch.randn(1, 4, 4, generator=g), torch.tensor([0.5])
    with torch.no_grad():
        before = shallow.forward_naive(ctx, x, t, Conditions())
    after = deep.forward_naive(ctx, x, t, Conditions())
    assert torch.allclose(after, before, atol=1e-6)
    after.square().mean().backward()
    assert deep.blocks[2].attn.proj.weight.grad.abs().sum() > 0 and deep.blocks[2].mlp[2].weight.grad.abs().sum() > 0


def test_a_deeper_state_does_not_load_into_a_shallower_model():
    deep = LMDM(LMDMConfig(**{**TINY, "n_layers": 2}, latent_dim=4))
    with pytest.raises(ValueError, match="unexpected"):
        LMDM(LMDMConfig(**TINY, latent_dim=4)).load_grown(deep.state_dict())
