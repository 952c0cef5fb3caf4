"""Spectrograms of held-out excerpts: original, codec, Opus 24 kbit/s, side by side."""
from __future__ import annotations

import numpy as np
import torch

from .spectral import log_mel


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
            ax = axes[r][c]
            ax.imshow(m, origin="lower", aspect="auto", vmin=max(lo, hi - 10), vmax=hi, cmap="magma",
                      extent=(0, len(signals[0]) / sample_rate, 0, m.shape[0]))
            ax.set_title(f"{title}" + (f" — {label}" if c == 0 else ""), fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel("mel bin", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
