"""The performer's entries: `lmdmlive` opens the REPL with audio, `lmdmlive PATCH.py` plays a patch
and reloads it at the next bar when saved."""
from __future__ import annotations

import argparse
import sys

from .args import AUDIO_MODES, EXIT_USAGE, CommandError, OneLineParser, bounded, bpm_arg


def cmd_repl(args) -> int:
    from pathlib import Path

    from ..audio.server import AudioServerError
    from ..live import prelude
    from ..live.repl import repl

    try:
        session = prelude.Session(audio=args.audio, bpm=args.bpm)
    except AudioServerError as e:
        print(f"lmdmlive: {e}\n  try `lmdmlive --audio jack` with a JACK server running, or `lmdmlive doctor`",
              file=sys.stderr)
        return EXIT_USAGE
    namespace = prelude.namespace(session)
    session.start()
    print(f"lmdmlive — {session.server.lmdm_mode} audio at {session.sample_rate} Hz, {session.bpm:.0f} BPM. "
          "Try: a = stream(\"warm dub chords\").out()   (Ctrl-D quits)")
    try:
        repl(namespace, history=Path.home() / ".lmdmlive_history")
    finally:
        session.stop()
        session.server.stop()
    return 0


OPTIONS_WITH_A_VALUE = {"--audio", "--bpm", "--record", "--osc"}
"""Every option of `build_patch_parser` (and of the REPL) that takes a value: `patch_argument` skips
their values when it looks for the patch file. An option added there is added here too."""


def build_patch_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lmdmlive PATCH.py", description="Play a patch file; save it to reload it at the "
                           "next bar. Ctrl-C stops.")
    parser.add_argument("patch", help="the patch file (.py)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="record what is heard (every stream and effect) to a .wav file as it plays")
    parser.add_argument("--bpm", type=bpm_arg, default=120.0, help="starting tempo of the clock (default 120)")
    parser.add_argument("--audio", default="auto", choices=AUDIO_MODES,
                        help="audio backend (default: JACK if running, else portaudio)")
    parser.add_argument("--osc", type=bounded(int, 1, 65535, "a UDP port from 1 to 65535"), default=None,
                        metavar="PORT", help="listen for OSC on this port: /lmdm/<stream>/<attribute> and "
                        "TidalCycles' /dirt/play (docs/osc.md; SuperDirt's port is 57120)")
    return parser


def parse_patch_args(argv: list[str]) -> argparse.Namespace:
    """The options of `lmdmlive PATCH.py ...`; a mistake is a CommandError naming it."""
    args, unknown = build_patch_parser().parse_known_args(argv)
    if unknown:
        raise CommandError(f"unknown option {unknown[0]!r} for a patch; a patch takes --record FILE, --bpm B, "
                           "--audio MODE, --osc PORT")
    from pathlib import Path
    if not Path(args.patch).is_file():
        raise CommandError(f"{args.patch}: no such patch file")
    if args.record is not None:
        rec = Path(args.record)
        if rec.suffix.lower() != ".wav":
            raise CommandError(f"--record {args.record!r}: the file name must end in .wav")
        if not rec.resolve().parent.is_dir():
            raise CommandError(f"--record {args.record!r}: the folder {str(rec.parent)!r} does not exist")
    return args


def patch_argument(argv: list[str]) -> str | None:
    """The patch file when the command line plays one: its first word that is neither an option
    nor an option's value, when that word ends in .py."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in OPTIONS_WITH_A_VALUE:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return word if word.endswith(".py") else None
    return None


def cmd_patch(args) -> int:
    import time

    from ..audio.server import AudioServerError
    from ..live import prelude
    from ..live.patch import PatchRunner

    try:
        session = prelude.Session(audio=args.audio, bpm=args.bpm)
    except AudioServerError as e:
        print(f"lmdmlive: {e}\n  or `lmdmlive doctor`", file=sys.stderr)
        return EXIT_USAGE
    if args.osc is not None:             # before the patch, whose session.osc() is then this port
        from ..live.osc import OscError
        try:
            session.osc(args.osc)
        except OscError as e:
            print(f"lmdmlive: --osc: {e}", file=sys.stderr)
            session.stop()
            session.server.stop()
            return EXIT_USAGE
        print(f"listening for OSC on 127.0.0.1:{args.osc}", file=sys.stderr, flush=True)
    namespace = prelude.namespace(session)
    runner = PatchRunner(args.patch, session, namespace)
    runner.load()
    session.start()
    print(f"playing {args.patch} at {session.bpm:g} BPM; save it to reload at the next bar (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        if args.record is not None:
            session.record(args.record)      # what the listener hears, reloads and effects included
            print(f"recording to {args.record}", file=sys.stderr, flush=True)
        while True:
            runner.tick()
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()         # stops the recorder too: the file is complete
        session.server.stop()
    return 0
