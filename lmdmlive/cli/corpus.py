"""The `corpus` commands: build the training corpus offline, add a performer's audio, render one style.

`add_corpus_commands` adds them to the one `lmdmlive` parser (cli/main.py).
"""
from __future__ import annotations

import sys

from .args import CommandError, bounded


def cmd_corpus_build(args) -> int:
    from ..progress import ProgressBar
    from ..train.corpus.build import build
    from ..train.corpus.debian import MissingPackages
    from ..train.corpus.sources import parse_sources

    try:
        sources = parse_sources(args.sources)
    except ValueError as e:
        raise CommandError(str(e)) from None
    bar = ProgressBar("corpus (seconds of audio)", int(args.hours * 3600))
    try:
        manifest = build(args.out, args.hours, seed=args.seed, workers=args.workers, progress=bar, only=args.only,
                         log=lambda msg: print(msg, file=sys.stderr, flush=True), sources_used=sources)
    except MissingPackages as e:
        raise CommandError(str(e)) from None
    for split, st in manifest["splits"].items():
        print(f"{split:8} {st['clips']:6d} clips {st['hours']:8.2f} h {st['pieces']:6d} pieces "
              f"{len(st['families']):3d} families")
    return 0


def cmd_corpus_style(args) -> int:
    from ..progress import ProgressBar
    from ..train.corpus.style_folder import write_style_folder

    try:
        files = write_style_folder(args.style, args.out, args.minutes, first=args.first,
                                   progress=ProgressBar(f"{args.style} (seconds of audio)", int(args.minutes * 60)),
                                   log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ValueError as e:
        raise CommandError(str(e)) from None
    print(f"{len(files)} files with captions in {args.out}")
    return 0


def cmd_corpus_add(args) -> int:
    from ..progress import ProgressBar
    from ..train.corpus.add import add_folder

    result = add_folder(args.folder, args.out, log=lambda msg: print(msg, file=sys.stderr, flush=True),
                        progress=ProgressBar("adding", 1))
    print(f"added {result['added']} of {result['files']} files to {args.out} (split 'user'); "
          f"{len(result['failed'])} could not be read")
    for path, why in result["failed"]:
        print(f"  {path}: {why}")
    return 0


def add_corpus_commands(sub) -> None:
    corpus = sub.add_parser("corpus", help="build or extend the training corpus",
                            description="Build the training corpus offline, or add your own audio to it.")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    cb = corpus_sub.add_parser("build", help="render music21 pieces and generated grooves (resumable)",
                               description="Render the music21 corpus and generated grooves with FluidSynth into "
                                           "FLAC shards with captions and sketch features. Deterministic per seed; "
                                           "an interrupted build continues where it stopped.")
    cb.add_argument("--hours", type=bounded(float, 0.0, 1000.0, "hours from 0 to 1000", low_open=True), default=20.0,
                    help="hours of audio to build (default 20)")
    cb.add_argument("--out", default="data/corpus", help="corpus folder (default data/corpus)")
    cb.add_argument("--seed", type=int, default=0, help="seed of the plan, arrangements and captions")
    cb.add_argument("--workers", type=bounded(int, 1, 64, "a number of worker processes from 1 to 64"), default=2,
                    help="render processes (default 2)")
    cb.add_argument("--only", choices=("train", "heldout"), default=None,
                    help="render only this split of the plan (heldout: an evaluation corpus of the pieces a full "
                         "build holds out; --hours then counts that split alone)")
    cb.add_argument("--sources", default="gm,grooves",
                    help="comma-separated sources: gm, grooves (the default, the shipped model's corpus), and the "
                         "opt-in recorded (game soundtracks), kits (grooves on recorded drum kits), musescore "
                         "(scores on MuseScore General), all read from Debian packages (docs/corpus.md)")
    cb.set_defaults(func=cmd_corpus_build)
    ca = corpus_sub.add_parser("add", help="add a folder of your own audio",
                               description="Add every audio file of FOLDER (wav, flac, ogg, mp3) with features and "
                                           "captions from a NAME.txt beside it, or from the folder and file names.")
    ca.add_argument("folder", help="folder of audio files (searched recursively)")
    ca.add_argument("--out", default="data/corpus", help="corpus folder (default data/corpus)")
    ca.set_defaults(func=cmd_corpus_add)
    cs = corpus_sub.add_parser("style", help="render one groove style into a folder of WAVs with captions",
                               description="Render grooves of STYLE (one the corpus holds, or one it never "
                                           "renders: 'bossa nova') into OUT as WAV files with NAME.txt captions, "
                                           "the way a performer brings audio to `finetune`. Grooves are numbered "
                                           "from --first, so folders with disjoint ranges share none.")
    cs.add_argument("style", help="groove style, e.g. 'bossa nova'")
    cs.add_argument("--out", required=True, help="folder to write")
    cs.add_argument("--minutes", type=bounded(float, 0.0, 600.0, "minutes above 0", low_open=True), default=5.0,
                    help="minutes of audio (default 5)")
    cs.add_argument("--first", type=bounded(int, 0, 10**6, "a groove number of 0 or more"), default=0,
                    help="number of the first groove (default 0)")
    cs.set_defaults(func=cmd_corpus_style)
