"""The sketch's pitch reaches the model as sines and cosines; older checkpoints grow into it unchanged."""
import pytest
import torch

from lmdmlive.model import LMDM, Conditions, LMDMConfig
from lmdmlive.model.config import ConfigError
from lmdmlive.model.layers import pitch_fourier

TINY = dict(d_model=32, n_layers=1, n_heads=2, latent_dim=4, block_frames=4, context_blocks=2)


def test_neighbouring_semitones_are_far_apart_and_octaves_differ():
    semis = torch.arange(48, 85).float()
    f = pitch_fourier((semis - 60) / 12, 8)
    d = torch.cdist(f, f)
    off_diagonal = d + torch.eye(len(semis)) * 1e9
    assert off_diagonal.min() > 0.3                       # every pair of notes apart, a semitone included
    c4, c5 = (60 - 48), (72 - 48)
    assert d[c4, c5] > 0.3                                # an octave is another note, not the same feature


def test_a_config_from_before_the_pitch_encoding_describes_a_model_without_it():
    old = LMDMConfig(**TINY).to_dict()
    del old["pitch_features"]
    cfg = LMDMConfig.from_dict(old)
    assert cfg.pitch_features == 0 and LMDM(cfg).pitch_proj is None
    assert LMDM(LMDMConfig(**TINY)).pitch_proj is not None
    with pytest.raises(ConfigError, match="pitch_features"):
        LMDMConfig(**TINY, pitch_features=-1).validate()


def test_an_older_state_grows_into_the_pitch_encoding_and_computes_the_same():
    torch.manual_seed(0)
    old = LMDM(LMDMConfig(**TINY, pitch_features=0)).eval()
    for p in old.parameters():                            # adaLN-zero starts as the identity; make it matter
        p.data.normal_(0, 0.1)
    new = LMDM(LMDMConfig(**TINY)).eval()
    assert new.load_grown(old.state_dict()) == ["pitch_proj.bias", "pitch_proj.weight"]
    ctx, x = torch.randn(1, 8, 4), torch.randn(1, 4, 4)
    sketch = torch.zeros(1, 4, 5)
    sketch[..., 2] = 0.25
    cond = Conditions(sketch=sketch, sketch_mask=torch.ones(1, 4, 5))
    assert torch.allclose(old.forward_naive(ctx, x, torch.tensor([0.5]), cond),
                          new.forward_naive(ctx, x, torch.tensor([0.5]), cond))
    with torch.no_grad():
        new.pitch_proj.weight.normal_()
    assert not torch.allclose(old.forward_naive(ctx, x, torch.tensor([0.5]), cond),
                              new.forward_naive(ctx, x, torch.tensor([0.5]), cond))
    state = old.state_dict()
    state.pop("in_proj.weight")
    with pytest.raises(ValueError, match="in_proj.weight"):
        new.load_grown(state)
