"""The `lmdmlive` command: one entry point, a sub-command per job, `--help` throughout.

Each job's commands live in a file of their own (render, bench, doctor, corpus,
training, eval, play, sampling); this file builds the one parser from them and turns a user's
mistake into one line and exit code 2.
"""
from __future__ import annotations

import argparse
import faulthandler
import io
import signal
import sys

from .args import AUDIO_MODES, EXIT_USAGE, CommandError, bpm_arg
from .bench import add_bench_command
from .corpus import add_corpus_commands
from .doctor import add_doctor_command
from .eval import add_eval_commands
from .play import cmd_patch, cmd_repl, parse_patch_args, patch_argument
from .render import add_render_command
from .sampling import add_sampling_command
from .training import add_training_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmdmlive", description="Live coding with a streaming music diffusion model. "
                                     "With no command, opens the REPL with audio.")
    parser.add_argument("--audio", default="auto", choices=AUDIO_MODES,
                        help="audio backend for the REPL (default: JACK if running, else portaudio)")
    parser.add_argument("--bpm", type=bpm_arg, default=120.0, help="starting tempo of the REPL's clock (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_render_command(sub)
    add_bench_command(sub)
    add_doctor_command(sub)
    add_corpus_commands(sub)
    add_training_commands(sub)
    add_eval_commands(sub)
    add_sampling_command(sub)
    return parser


CHECKPOINT_OPTIONS = {"model": "LMDM", "after": "LMDM", "codec": "codec"}


def _check_checkpoint_options(args) -> None:
    """A `--model`/`--codec`/`--after` path given but missing is an error naming it, before any work
    (a damaged one is found when it loads); never a fall-back to other weights."""
    from ..model import CheckpointError
    from ..model.default import require_checkpoint
    for name, what in CHECKPOINT_OPTIONS.items():
        path = getattr(args, name, None)
        if path is not None:
            try:
                require_checkpoint(path, what)
            except CheckpointError as e:
                raise CheckpointError(f"--{name} {e}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if hasattr(signal, "SIGUSR1"):       # `kill -USR1 PID` prints every thread's stack: a stuck set can be read
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (io.UnsupportedOperation, ValueError, AttributeError):
            pass                         # stderr is no file (main() called from a notebook or a test)
    if patch_argument(argv) is not None:
        try:
            args = parse_patch_args(argv)
        except CommandError as e:
            print(f"lmdmlive: {e}", file=sys.stderr)
            return EXIT_USAGE
        return cmd_patch(args)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_repl(args)
    from ..model import CheckpointError, ConfigError
    try:
        _check_checkpoint_options(args)
        return args.func(args)
    except (CommandError, CheckpointError, ConfigError, ValueError, OSError) as e:
        print(f"lmdmlive {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lmdmlive {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
