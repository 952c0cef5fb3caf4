"""The shipped default model is what `load_default()` plays, and a named path is never replaced."""
import json
import warnings

import pytest
import torch

from lmdmlive.model import CheckpointError, Conditions, generate_block, save_checkpoint
from lmdmlive.model.checkpoint import checkpoint_paths, file_sha256
from lmdmlive.model.default import DEFAULT_CODEC, DEFAULT_LMDM, load_default

from .helpers import small_lmdm


@pytest.fixture(scope="module")
def bundle():
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the untrained fall-back warns: here it is a failure
        return load_default()


def test_the_shipped_checkpoints_are_what_loads_not_the_untrained_fallback(bundle):
    assert bundle.trained, "load_default() fell back to untrained weights: lmdmlive/assets/ is incomplete"
    assert bundle.source == "lmdm + codec"
    for path in (DEFAULT_LMDM, DEFAULT_CODEC):
        weights, card = checkpoint_paths(path)
        meta = json.loads(card.read_text())
        assert meta["weights"] == weights.name, f"{card.name} names another weights file"
        assert file_sha256(weights) == meta["sha256"], f"{weights.name} does not match its card"


def test_the_loaded_weights_are_the_shipped_ones(bundle):
    from safetensors.torch import load_file
    for module, path in ((bundle.lmdm, DEFAULT_LMDM), (bundle.codec, DEFAULT_CODEC)):
        stored = load_file(str(checkpoint_paths(path)[0]))
        state = module.state_dict()
        assert set(stored) == set(state)
        assert all(torch.equal(state[k], v.to(state[k].dtype)) for k, v in stored.items())


def test_the_shipped_model_generates_and_decodes_a_block_deterministically(bundle):
    model, codec = bundle.lmdm, bundle.codec
    g = torch.Generator().manual_seed(5)
    cond = Conditions(style=torch.nn.functional.normalize(torch.randn(1, model.cfg.style_dim, generator=g), dim=-1))

    def block():
        cache = model.new_cache(1)
        with torch.no_grad():
            generate_block(model, [cache], cond, [11], steps=4, guidance=2.0)      # the next block sees context
            z = generate_block(model, [cache], cond, [11], steps=4, guidance=2.0)
            return z, codec.decode(model.to_codec(z))

    (z, audio), (z2, audio2) = block(), block()
    assert torch.isfinite(z).all() and torch.isfinite(audio).all()
    assert torch.equal(z, z2) and torch.equal(audio, audio2)
    assert audio.numel() == model.cfg.block_frames * codec.cfg.hop
    assert 1e-4 < float(audio.abs().max()) <= 1.5, "silence or a blow-up, not audio"


def test_a_named_checkpoint_that_is_missing_is_an_error_naming_it(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere"):
        load_default(tmp_path / "nowhere", warn=False)
    with pytest.raises(CheckpointError, match="nocodec"):
        load_default(None, tmp_path / "nocodec.safetensors", warn=False)


def test_a_named_checkpoint_that_is_damaged_is_an_error_naming_it(tmp_path):
    model = small_lmdm()
    save_checkpoint(model, model.cfg, tmp_path / "small", "lmdm")
    weights = tmp_path / "small.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="small.safetensors"):
        load_default(tmp_path / "small", warn=False)


def test_untrained_weights_stand_in_only_when_nothing_is_named_or_shipped(tmp_path, monkeypatch):
    from lmdmlive.model import default
    monkeypatch.setattr(default, "DEFAULT_LMDM", tmp_path / "lmdm")
    monkeypatch.setattr(default, "DEFAULT_CODEC", tmp_path / "codec")
    with pytest.warns(UserWarning, match="untrained"):
        assert not load_default(float32=True).trained
    with pytest.raises(CheckpointError, match="codec"):
        load_default(DEFAULT_LMDM, None, warn=False)     # a named model does not bring an untrained codec
