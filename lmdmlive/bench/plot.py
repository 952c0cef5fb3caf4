"""`bench --plot PNG`: median seconds per block against context, cached vs naive, with the real-time line."""
from __future__ import annotations


def plot_context_sweep(sweep: dict, block_seconds: float, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(sweep["context_s"], [t * 1000 for t in sweep["naive_s"]], "o-", label="naive outpainting")
    ax.plot(sweep["context_s"], [t * 1000 for t in sweep["cached_s"]], "o-", label="KV-cached")
    ax.axhline(block_seconds * 1000, color="grey", ls="--", lw=1, label="real time (block length)")
    ax.axhline(block_seconds * 250, color="grey", ls=":", lw=1, label="budget: 25 % of the block")
    ax.set_xlabel("clean context held (s)")
    ax.set_ylabel("compute per block (ms)")
    if "repeats" in sweep:
        title += f"\nmedians of {sweep['repeats']} blocks per point, cached and naive taken in turn"
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
