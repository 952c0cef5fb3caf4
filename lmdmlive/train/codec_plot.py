"""Spectrograms of held-out excerpts: original, codec, Opus 24 kbit/s, side by side."""
from __future__ import annotations

import numpy as np
import torch

from .spectral import draw_mel, log_mel


def plot_spectrograms(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], sample_rate: int, path: str) -> None:
    """rows: (label, original, codec, opus) per excerpt, all the same length."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(11, 2.3 * len(rows)), dpi=110, squeeze=False)
    for r, (label, *signals) in enumerate(rows):
        mels = [log_mel(torch.from_numpy(s)[None], sample_rate)[0].numpy() for s in signals]
        lo, hi = min(m.min() for m in mels), max(m.max() for m in mels)
        for c, (title, m) in enumerate(zip(("original", "lmdmlive codec", "Opus 24 kbit/s"), mels)):
            draw_mel(axes[r][c], m, len(signals[0]) / sample_rate, f"{title}" + (f" — {label}" if c == 0 else ""),
                     max(lo, hi - 10), hi)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
