"""Adapters: exact when merged, exact when removed, trained on a folder with a broken file, found by name."""
import numpy as np
import pytest
import soundfile as sf
import torch

from lmdmlive.model import Codec, Conditions, LMDM, LMDMConfig, save_checkpoint
from lmdmlive.model import adapters
from lmdmlive.model.checkpoint import CheckpointError
from lmdmlive.model.lora import adapter_state, add_adapters, merge, strip_adapters
from lmdmlive.train.finetune import finetune

from .test_audio_models import TINY_CODEC

CFG = LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=8, block_frames=4, context_blocks=3)


def _model(seed=0):
    torch.manual_seed(seed)
    m = LMDM(CFG)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    return m.eval()


def test_an_adapter_merged_into_the_weights_computes_what_it_computed_beside_them():
    m = _model()
    x, ctx = torch.randn(1, 4, 8), torch.randn(1, 8, 8)
    cond = Conditions(style=torch.randn(1, 384))
    with torch.no_grad():
        plain = m.forward_naive(ctx, x, torch.tensor([0.5]), cond)
    add_adapters(m, rank=4, alpha=8.0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("lora_b"):
                p.normal_(0, 0.05)
        adapted = m.forward_naive(ctx, x, torch.tensor([0.5]), cond)
    state = adapter_state(m)
    strip_adapters(m)
    merge(m, state, 8.0)
    with torch.no_grad():
        merged = m.forward_naive(ctx, x, torch.tensor([0.5]), cond)
    assert not torch.allclose(adapted, plain, atol=1e-4)
    assert torch.allclose(merged, adapted, atol=1e-5)
    merge(m, state, 8.0, sign=-1.0)
    with torch.no_grad():
        assert torch.allclose(m.forward_naive(ctx, x, torch.tensor([0.5]), cond), plain, atol=1e-5)


def test_finetune_on_a_folder_saves_a_small_adapter_that_loads_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("LMDMLIVE_ADAPTERS", str(tmp_path / "adapters"))
    torch.manual_seed(0)
    save_checkpoint(Codec(TINY_CODEC), TINY_CODEC, tmp_path / "codec", "codec")
    folder = tmp_path / "my loops" / "dark drones"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        t = np.arange(24000 * 4) / 24000
        sf.write(folder / f"drone {i}.wav", (0.3 * np.sin(2 * np.pi * (100 + 30 * i) * t)).astype(np.float32), 24000)
    (folder / "broken.wav").write_bytes(b"RIFF....not audio")
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    messages = []
    r = finetune(folder, "drones", model, tmp_path / "codec", minutes=0.15, rank=4, batch=4, lr=3e-3,
                 log=messages.append)
    assert r["steps"] > 5 and r["ok"]
    assert any("broken.wav" in str(path) for path, _ in r["failed"])
    assert r["path"].stat().st_size < 200_000
    fresh = _model()
    for k, v in before.items():
        assert torch.equal(fresh.state_dict()[k], v)
    meta = adapters.apply(fresh, "drones")
    assert meta["rank"] == 4 and meta["steps"] == r["steps"]
    changed = [k for k, v in fresh.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all(k.endswith(".weight") for k in changed)
    adapters.apply(fresh, "drones", sign=-1.0)
    for k, v in before.items():
        assert torch.allclose(fresh.state_dict()[k], v, atol=1e-6)
    with pytest.raises(CheckpointError, match="no adapter 'nothing'.*drones"):
        adapters.apply(fresh, "nothing")
