"""An adversary for the codec's decoder: small 2-D convolution stacks on log-mel spectrograms at three resolutions.

Why: the decoder invents phase, and where neighbouring frames' phases disagree the
partials beat and smear -- the loud bins are where the codec loses to Opus. Distances
on magnitudes cannot see that a spectrogram is implausible, only that it differs; a
discriminator can, and its feature-matching term is a learned distance on top.

Why log-mel rather than linear spectrograms or waveforms (HiFi-GAN's and Vocos's
choice): on this CPU a linear-frequency 2-D stack at three resolutions costs several
times the decoder's own step; mel bands cut the frequency axis to 64 rows, and
striding over frequency shrinks it further. Least-squares GAN losses, as HiFi-GAN
uses them. `lmdmlive train codec --adversarial` measures whether it pays.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import mel_filterbank, stft_mag

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
MEL_ROWS = 64
ADV_WEIGHT = 0.1       # against a reconstruction loss near 1.6 (log-mel L1 + STFT distance)
FM_WEIGHT = 0.2


class MelDiscriminator(nn.Module):
    """One resolution: log-mel (B, 1, rows, frames) -> the feature maps of each layer, logits last."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, channels: int = 8):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop = sample_rate, n_fft, hop
        c = channels
        self.convs = nn.ModuleList([
            nn.Conv2d(1, c, (5, 5), padding=(2, 2)),
            nn.Conv2d(c, 2 * c, (5, 5), stride=(2, 1), padding=(2, 2)),
            nn.Conv2d(2 * c, 2 * c, (5, 5), stride=(2, 1), padding=(2, 2)),
            nn.Conv2d(2 * c, 2 * c, (5, 5), stride=(2, 1), padding=(2, 2)),
            nn.Conv2d(2 * c, 2 * c, (3, 3), padding=(1, 1)),
        ])
        self.head = nn.Conv2d(2 * c, 1, (3, 3), padding=(1, 1))

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        fb = mel_filterbank(self.sample_rate, self.n_fft, MEL_ROWS).to(wave.device)
        x = torch.log(torch.matmul(fb, stft_mag(wave, self.n_fft, self.hop)).clamp_min(1e-5)) / 4.0
        x = x[:, None]                                          # (B, 1, rows, frames)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        features.append(self.head(x))
        return features


class CodecAdversary(nn.Module):
    """The three resolutions together, with the losses each side of the game minimises."""

    def __init__(self, sample_rate: int, channels: int = 8):
        super().__init__()
        self.discriminators = nn.ModuleList(MelDiscriminator(sample_rate, n, h, channels) for n, h in RESOLUTIONS)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for d in self.discriminators:
            total = total + ((d(real)[-1] - 1) ** 2).mean() + (d(fake.detach())[-1] ** 2).mean()
        return total / len(self.discriminators)

    def generator_losses(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial, feature matching); the discriminators' own weights get no gradient."""
        self.requires_grad_(False)
        adv, fm = 0.0, 0.0
        try:
            for d in self.discriminators:
                with torch.no_grad():
                    real_maps = d(real)
                fake_maps = d(fake)
                adv = adv + ((fake_maps[-1] - 1) ** 2).mean()
                fm = fm + sum((r - f).abs().mean() for r, f in zip(real_maps[:-1], fake_maps[:-1])) / (len(real_maps) - 1)
        finally:
            self.requires_grad_(True)
        n = len(self.discriminators)
        return adv / n, fm / n

    def realness(self, wave: torch.Tensor) -> torch.Tensor:
        """Mean logit per item over all resolutions: higher = judged more real."""
        return torch.stack([d(wave)[-1].mean(dim=(1, 2, 3)) for d in self.discriminators]).mean(0)
