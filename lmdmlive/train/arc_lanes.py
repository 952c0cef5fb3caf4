"""What an ARC-Forcing rollout is played under, and what its discriminator reads it under.

A rollout is played under the prompt and some of the real continuation's lanes (its
sketch curves and arrangement), so that the adversarial signal is learned with the lanes
a performer sets. The discriminator reads a window under the same lanes, and, for its
contrastive terms, the same real window under another item's prompt or lanes.
"""
from __future__ import annotations

import torch

from ..model import Conditions

LANE_DROP = 0.5
"""Share of rollouts with each sketch curve and each arrangement control dropped, as in training."""
BARE_SHARE = 0.5
"""With "mixed" rollout conditions: share of the items played under their prompt alone."""


def block_conditions(cond: Conditions, start: int, stop: int) -> Conditions:
    """The conditions of frames [start, stop) of a window: per-frame fields sliced, the rest as they are."""
    out = {}
    for name, value in vars(cond).items():
        per_frame = value is not None and name in ("sketch", "sketch_mask", "audio", "audio_mask")
        out[name] = value[:, start:stop] if per_frame else value
    return Conditions(**out)


def window_conditions(cond: Conditions, gen: torch.Generator, keep_lanes: bool = True,
                      bare_share: float = 0.0) -> Conditions:
    """What a rollout is played under: the prompt always, and (with `keep_lanes`) the real
    continuation's own sketch curves and arrangement, each dropped at random, so that the
    adversarial signal is learned with the lanes a performer sets, never against them.

    `bare_share`: the share of items that keep no lane at all. Why: with eleven lanes each
    dropped at one chance in two, a rollout under the prompt alone almost never happens,
    while a performer often plays a prompt alone; runs that rolled out only under lanes
    kept the lanes and lost the prompt, and the run under the prompt alone the reverse
    (docs/dev/training.md, runs 4-7)."""
    if not keep_lanes:
        return Conditions(style=cond.style)
    B, _, n = cond.sketch.shape

    def keep(*shape):
        return (torch.rand(*shape, generator=gen) >= LANE_DROP).float()

    sketch_mask = cond.sketch_mask * keep(B, 1, n)
    arrangement_mask = cond.arrangement_mask * keep(*cond.arrangement_mask.shape)
    if bare_share > 0:              # drawn only when asked, so the other modes' draws stay as they were
        some = (torch.rand(B, generator=gen) >= bare_share).float()
        sketch_mask, arrangement_mask = sketch_mask * some[:, None, None], arrangement_mask * some[:, None]
    return Conditions(style=cond.style, sketch=cond.sketch, sketch_mask=sketch_mask,
                      arrangement=cond.arrangement, arrangement_mask=arrangement_mask)


LANE_FIELDS = ("sketch", "sketch_mask", "arrangement", "arrangement_mask")


def swapped_lanes(lanes: Conditions) -> tuple[Conditions, torch.Tensor]:
    """Each item's window read under the previous item's lanes (its own prompt kept), and a
    weight per item: 1 where those lanes ask for something, 0 where they are bare.

    Why: the prompt's contrastive term teaches the heads that real audio scores higher
    under its own prompt than under another's, which is what pays the generator for
    following the prompt. The same term over the sketch and arrangement makes following
    the lanes something the heads check; without it they need not, and the two-step
    rollouts kept the prompt and lost brightness and pitch (docs/dev/training.md, run 8
    at 600 steps). Bare lanes are no contradiction of any audio, so they are not counted.
    """
    out = {name: value.roll(1, dims=0) if value is not None and name in LANE_FIELDS else value
           for name, value in vars(lanes).items()}
    swapped = Conditions(**out)
    said = torch.zeros(lanes.style.shape[0])
    if swapped.sketch_mask is not None:
        said = said + swapped.sketch_mask.flatten(1).sum(1)
    if swapped.arrangement_mask is not None:
        said = said + swapped.arrangement_mask.sum(1)
    return swapped, (said > 0).float()
