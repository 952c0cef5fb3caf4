"""What `train arc` may be asked, checked before anything is loaded or written.

A run goes for an hour or more on this machine; an option that cannot work must stop it
at once, with the option's name and what it takes, not after the corpus is encoded.
"""
from __future__ import annotations

from pathlib import Path

STEP_CHOICES = (1, 2, 4)
DISCRIMINATORS = ("trunk", "latent")
GRAD_BLOCKS = ("last", "all")
ROLLOUT_SAMPLERS = ("euler", "pingpong")
ROLLOUT_CONDITIONS = ("style", "window", "mixed")
DISC_CONDITIONS = ("prompt", "lanes")
"""What the trunk discriminator reads a window under: its prompt alone, or the prompt with the
sketch and arrangement the rollout was played under (the real window under the same lanes)."""
GRAD_BRANCHES = ("every", "conditioned")
"""Which guidance branches the rollout's gradient goes through: every one, weighted by its scale in
the guided sum, or the fully conditioned one alone (the guidance a detached offset on it)."""


def check_arc_options(*, discriminator: str, grad_blocks: str, disc_steps: int, step_choices, sampler: str,
                      disc_conditions: str, grad_branch: str, rollout_conditions: str, contrastive: float,
                      lane_contrastive: float, lane_loss: float, lane_probe: Path | None, heard_lanes: float,
                      distill: float, teacher_steps: int, heard_level: float = 0.0) -> tuple[int, ...]:
    """Raises ValueError on the first option that cannot work; returns the step choices as whole numbers."""
    for name, value, allowed in (("discriminator", discriminator, DISCRIMINATORS),
                                 ("grad_blocks", grad_blocks, GRAD_BLOCKS), ("sampler", sampler, ROLLOUT_SAMPLERS),
                                 ("disc_conditions", disc_conditions, DISC_CONDITIONS),
                                 ("grad_branch", grad_branch, GRAD_BRANCHES),
                                 ("rollout_conditions", rollout_conditions, ROLLOUT_CONDITIONS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    for name, weight in (("contrastive", contrastive), ("lane_contrastive", lane_contrastive),
                         ("lane_loss", lane_loss), ("heard_lanes", heard_lanes), ("distill", distill),
                         ("heard_level", heard_level)):
        if weight < 0:
            raise ValueError(f"{name} must be 0 or more, got {weight}")
    if disc_steps < 1:
        raise ValueError(f"disc_steps must be 1 or more, got {disc_steps}")
    choices = tuple(int(n) for n in step_choices)
    if not choices or any(n < 1 or n > 64 for n in choices):
        raise ValueError(f"step choices must be whole numbers from 1 to 64, got {choices!r}")
    if not 1 <= teacher_steps <= 64:
        raise ValueError(f"teacher_steps must be a whole number from 1 to 64, got {teacher_steps}")
    if disc_conditions == "lanes" and discriminator != "trunk":
        raise ValueError("only the trunk discriminator reads lanes; use --disc trunk or --disc-conditions prompt")
    if lane_contrastive > 0 and disc_conditions != "lanes":
        raise ValueError("a lane-swapped term needs a discriminator that reads the lanes: "
                         "use --disc-conditions lanes, or --lane-contrastive 0")
    if lane_loss > 0 and lane_probe is None:
        raise ValueError("a lane loss needs a lane probe to read the rollouts' lanes: pass --lane-probe PATH "
                         "(python -m lmdmlive.train.lane_probe makes one)")
    if distill > 0 and sampler != "euler":
        raise ValueError("distillation compares the rollout with the teacher's block from the same noise, which "
                         "only Euler makes a function of it: use --sampler euler, or --distill 0")
    return choices
