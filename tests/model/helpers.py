"""Small models with every weight non-zero, so that a wrong mask or position shows up."""
import torch

from lmdmlive.model import Codec, CodecConfig, LMDM, LMDMConfig

SMALL_LMDM = LMDMConfig(d_model=64, n_layers=3, n_heads=4, block_frames=4, context_blocks=3, latent_dim=8)
SMALL_CODEC = CodecConfig(sample_rate=8000, frame_rate=25, latent_dim=8, stft_hop=80, channels=32,
                          encoder_layers=2, decoder_layers=2)


def perturbed(module: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return module.eval()


def small_lmdm(**overrides) -> LMDM:
    import dataclasses
    return perturbed(LMDM(dataclasses.replace(SMALL_LMDM, **overrides)))


def small_codec() -> Codec:
    return perturbed(Codec(SMALL_CODEC), scale=0.02)
