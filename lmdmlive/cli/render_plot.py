"""`render --plot PNG`: a log-mel spectrogram of what was rendered, for listening notes and docs."""
from __future__ import annotations

import numpy as np
import torch


def plot_render(audio: np.ndarray, sample_rate: int, path: str, title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'lmdmlive[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..train.spectral import draw_mel, log_mel

    mel = log_mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None], sample_rate)[0].numpy()
    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=110)
    hi = float(mel.max())
    draw_mel(ax, mel, len(audio) / sample_rate, title, hi - 10, hi)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
