"""`lmdmlive train codec`: its options, which grew with every experiment on the codec (docs/dev/codec.md).

`add_codec_command` adds it to the `train` stages (cli/training.py).
"""
from __future__ import annotations

import dataclasses
import sys

from .args import DEVICE_HELP, bounded, device_arg


def cmd_train_codec(args) -> int:
    from pathlib import Path

    from ..progress import ProgressBar
    from ..train.codec_train import init_config, saved_config, train_codec

    device = device_arg(args)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    from ..model import CodecConfig

    shape = {k: v for k, v in (("latent_dim", args.latent_dim), ("phase_head", args.phase_head),
                               ("decoder_delay", args.decoder_delay), ("harmonics", args.harmonics),
                               ("encoder_phase", True if args.encoder_phase else None),
                               ("phase_lock", True if args.phase_lock else None)) if v is not None}
    base = (saved_config(Path(args.run)) or (init_config(Path(args.init)) if args.init else None)) if shape else None
    if base is not None:
        config = dataclasses.replace(base, **shape)     # the run's (or --init's) shape, with these changed
    else:
        config = CodecConfig(**shape) if shape else None
    result = train_codec(Path(args.corpus), Path(args.run), steps=args.steps, minutes=args.minutes,
                         batch=args.batch, lr=args.lr, seed=args.seed, config=config,
                         export=Path(args.export) if args.export else None,
                         init=Path(args.init) if args.init else None, freeze_encoder=args.freeze_encoder,
                         adversarial=args.adversarial, absolute_phase=args.phase_loss,
                         periodicity=args.periodicity, harmonic_teacher=args.harmonic_teacher,
                         harmonic_duck=args.harmonic_duck, tones=args.tones, fine=args.fine, gate=args.gate,
                         taught_advance=args.taught_advance, advance_peaks=args.advance_peaks,
                         device=device,
                         progress=ProgressBar("codec steps", args.steps, min_interval=2.0),
                         log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"codec at step {result['step']}; state in {args.run}" + (f", exported to {args.export}" if args.export else ""))
    return 0


def add_codec_command(train_sub) -> None:
    tc = train_sub.add_parser("codec", help="train the audio codec on the corpus",
                              description="Train the codec (multi-resolution STFT and mel losses, VAE) on random "
                                          "crops of the corpus; resumes from RUN when stopped.")
    tc.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    tc.add_argument("--run", "--run-dir", dest="run", default="runs/codec", help="run folder for state, log and curve (default runs/codec)")
    tc.add_argument("--steps", type=bounded(int, 1, 10**7, "a number of steps"), default=20000,
                    help="total steps (default 20000)")
    tc.add_argument("--minutes", type=bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None,
                    help="stop after this many minutes (the run resumes later)")
    tc.add_argument("--batch", type=bounded(int, 1, 1024, "a batch size"), default=16, help="crops per step")
    tc.add_argument("--lr", type=bounded(float, 0, 1, "a learning rate", low_open=True), default=1e-3)
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--export", default=None, help="also write the trained codec as a checkpoint (NAME)")
    tc.add_argument("--init", default=None, help="start from this codec checkpoint when RUN holds no state "
                                                 "(e.g. lmdmlive/assets/codec)")
    tc.add_argument("--freeze-encoder", action="store_true",
                    help="train the decoder only, so the latents (and models trained on them) stay valid")
    tc.add_argument("--adversarial", action="store_true",
                    help="add a log-mel discriminator (least-squares and feature-matching losses); "
                         "its state lives in RUN/discriminator")
    tc.add_argument("--threads", type=bounded(int, 1, 256, "a thread count"), default=None,
                    help="CPU threads for torch (default: all cores)")
    tc.add_argument("--latent-dim", type=bounded(int, 1, 1024, "a number of latent channels"), default=None,
                    help="latent channels of a new run (default 32; a resumed run keeps its own)")
    tc.add_argument("--phase-head", choices=("absolute", "carried"),    # model.config.PHASE_HEADS, kept torch-free here
                    default=None,
                    help="how the decoder sets phase: 'absolute' per frame, or 'carried' from frame to frame "
                         "(default absolute; with --init an absolute codec grows a carried head)")
    tc.add_argument("--harmonics", type=bounded(int, 0, 64, "a number of partials"), default=None,
                    help="a harmonic branch beside the decoder with this many partials, its phases carried "
                         "(model/codec_harmonic.py; with --init it starts silent; 0: none)")
    tc.add_argument("--phase-lock", action="store_true",
                    help="a carried head's advances are played by peak-tracked locking, in training and in the "
                         "export (model/codec_lock.py; with --init, a carried codec's decoder takes it on)")
    tc.add_argument("--decoder-delay", type=bounded(int, 0, 3, "a number of STFT hops"), default=None,
                    help="STFT hops the decoded audio trails its input (0-3; default 0): at 3 no decoder frame "
                         "reaches past what its latent heard, for 30 ms of latency (docs/dev/codec.md)")
    tc.add_argument("--encoder-phase", action="store_true",
                    help="the encoder also reads each bin's phase advance, so the latents can carry exact "
                         "pitch (with --init, the trained codec grows it, and wider --latent-dim, starting "
                         "silent: docs/dev/codec.md)")
    tc.add_argument("--phase-loss", action="store_true",
                    help="also teach an absolute phase head how its output's phase turns, frame to frame and bin "
                         "to bin (a carried head always is); a run started with it keeps it")
    tc.add_argument("--periodicity", type=bounded(float, 0, 100, "a loss weight"), default=None,
                    help="weight of a loss on how much less the decoded audio repeats at its period than the "
                         "input (YIN's difference: what the pitch tracker hears; default 0, a resumed run keeps "
                         "its own)")
    tc.add_argument("--harmonic-teacher", type=bounded(float, 0, 1, "a share from 0 to 1"), default=None,
                    help="share of steps on which a harmonic branch plays the input's own f0 while its head "
                         "learns the note (teacher forcing; default 0, a resumed run keeps its own)")
    tc.add_argument("--harmonic-duck", type=bounded(float, 0, 1, "a share from 0 to 1"), default=None,
                    help="how far the decoder's own spectrum gives way under a harmonic branch's partials where it "
                         "is voiced (0 to 1; kept in the checkpoint; a silent branch is woken at level 1)")
    tc.add_argument("--tones", type=bounded(float, 0, 1, "a share from 0 to 1"), default=None,
                    help="share of training crops that are held or gliding tones of 40-400 Hz (train/tones.py; "
                         "default 0, a resumed run keeps its own)")
    tc.add_argument("--fine", type=bounded(float, 0, 100, "a loss weight"), default=None,
                    help="weight of a log-magnitude distance below 1 kHz through an 8192-sample window, which "
                         "tells where a low partial sits to 3 Hz (default 0, a resumed run keeps its own)")
    tc.add_argument("--gate", type=bounded(float, 0, 100, "a loss weight"), default=None,
                    help="weight of a loss teaching a carried phase head's gates to hold the phase where the input "
                         "holds a partial (default 0, a resumed run keeps its own)")
    tc.add_argument("--taught-advance", action="store_true",
                    help="a carried head's advances learn from the input's own advance alone, the spectral losses "
                         "seeing them detached (a run started with it keeps it)")
    tc.add_argument("--advance-peaks", action="store_true",
                    help="a carried head's advances are taught at the input's partials alone, by a miss that keeps "
                         "pulling when small (a run started with it keeps it)")
    tc.add_argument("--device", default="cpu", help=DEVICE_HELP)
    tc.set_defaults(func=cmd_train_codec)
