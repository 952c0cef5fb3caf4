"""Argument types and the one-line user error shared by every `lmdmlive` command."""
from __future__ import annotations

import argparse
import math

EXIT_USAGE = 2


class CommandError(Exception):
    """A user mistake the command explains in one line and exits 2 for."""


def bounded(cast, low: float, high: float, what: str, low_open: bool = False):
    """An argparse type: a number of `cast` within [low, high] (or (low, high]), else one clear line."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


seconds_arg = bounded(float, 0.0, 6 * 3600, "a number above 0 (seconds, at most 6 hours)", low_open=True)
steps_arg = bounded(int, 1, 8, "a whole number of steps from 1 to 8")
guidance_arg = bounded(float, 0.0, 20.0, "a guidance scale from 0 to 20")
control_guidance_arg = bounded(float, 0.0, 40.0, "a guidance scale from 0 to 40")


def add_sampling_options(parser, also: str = "") -> None:
    """`--steps` and `--guidance`, whose defaults are the model's own (its card's, model/sampling.py)."""
    parser.add_argument("--steps", type=steps_arg, default=None,
                        help=f"denoising steps per block (default: the model's card, else 4{also})")
    parser.add_argument("--guidance", type=guidance_arg, default=None,
                        help=f"prompt guidance (default: the model's card, else 2{also})")


bpm_arg = bounded(float, 10, 999, "a tempo from 10 to 999 BPM")
AUDIO_MODES = ("auto", "jack", "portaudio")
FLOAT32_HELP = ("float32 throughout (default, as played: int8 copies of the transformer's weights, and bf16 "
                "decoder products where the CPU multiplies bf16 natively)")


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose mistakes raise CommandError (one line) instead of printing usage."""

    def error(self, message):
        raise CommandError(message)


DEVICE_HELP = ("where to train: cpu (default), or cuda / cuda:N with bf16 autocast (weights stay float32); "
               "checkpoints are written for the CPU either way")


def device_arg(args) -> str:
    """--device checked before anything is read or written: a missing GPU is a usage error, said at once."""
    from ..train.device import training_device
    try:
        return str(training_device(args.device))
    except ValueError as e:
        raise CommandError(str(e)) from None
