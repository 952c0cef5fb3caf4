"""Bounce: a patch rendered offline, faster than real time, as the master bus plays it.

    >>> result = bounce("patches/03_prompt_morph.py", 12, "set.wav", seed=0)
    >>> result.compute_seconds < result.seconds      # faster than real time
    True

The patch runs once in a `Session` on pyo's manual server (stereo, 48 kHz, 256-sample
buffers) with the model in this process. Before each buffer the engine generates every
block that is due, then the server computes the buffer and the master bus's output
(every stream and every effect after it, the gain and the limiter) is written to the
file. Nothing waits on a clock, so the bounce runs as fast as the model does, and the
schedule depends on the audio alone: the engine's lookahead is fixed (live, it follows
the measured compute time) and a block is never generated a second time mid-block
(live, a change typed while a block plays is spliced into it; a bounce has no typing).
pyo's noise generators are seeded too, so the same seed gives the same file.

`seed` is added to the seed of every `stream(...)` and `delay(...)` the patch makes
(0 plays the patch's own seeds). `midi(...)` gives a port that is never opened: its
mappings are made, no message arrives (a bounce has no one at the controller), and one
line says so. `live_input` is the manual server's one input, which is silent.

One bounce per process: pyo has one server per process.
"""
from __future__ import annotations

import inspect
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SAMPLE_RATE = 48000
BUFFER = 256
CHANNELS = 2
LOOKAHEAD_SECONDS = 0.4      # the live engine's starting lookahead (engine/worker.py ADAPTIVE_START)
MAX_SEED = 2 ** 31


class BounceError(Exception):
    """A bounce that cannot be made (a patch that fails, a bad file name); one line says why."""


@dataclass
class BounceResult:
    path: Path
    seconds: float               # audio written
    frames: int
    compute_seconds: float       # the render loop: model, pyo and the file
    setup_seconds: float         # server, model, text encoder, running the patch
    peak_db: float               # of the file, dBFS (-inf: silent)
    midi_skipped: int            # midi(...) calls answered with a port that is never opened


def bounce(patch: str | Path, seconds: float, out: str | Path, *, seed: int = 0, bpm: float = 120.0,
           bundle=None, model: str | None = None, codec: str | None = None, float32: bool = False,
           adapter: str | None = None, steps: int | None = None, guidance: float | None = None,
           threads: int | None = None, progress: Callable[[int, int], None] | None = None,
           write: Callable[[str], None] | None = None) -> BounceResult:
    """Render `patch` for `seconds` to `out` (.wav: 32-bit float; .flac: 24-bit), stereo at 48 kHz.

    `bundle`: a loaded model (tests give a small one); otherwise the default model, or the
    checkpoints `model`/`codec`. `steps`/`guidance`: the engine's defaults for streams
    that set none (None: the live defaults). `threads`: torch threads (None: the engine's
    choice, one core fewer than the machine has). `progress(done, total)` is called per buffer;
    `write(line)` gets the patch's messages (stderr by default).
    """
    import numpy as np
    import soundfile as sf
    import torch

    from ..audio.capture import Capture
    from ..audio.server import boot_server
    from ..model.default import load_default
    from . import prelude
    from .patch import PatchRunner
    from .session import Session

    write = write or (lambda line: print(line, file=sys.stderr, flush=True))
    patch, out = Path(patch), Path(out)
    if not patch.is_file():
        raise BounceError(f"{patch}: no such patch file")
    if out.suffix.lower() not in (".wav", ".flac"):
        raise BounceError(f"{out}: the file name must end in .wav or .flac")
    if not out.resolve().parent.is_dir():
        raise BounceError(f"{out}: the folder {str(out.parent)!r} does not exist")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not 0 < seconds <= 6 * 3600:
        raise BounceError(f"seconds must be a number above 0 and at most 6 hours, got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BounceError(f"seed must be a whole number of 0 or more, got {seed!r}")

    t0 = time.perf_counter()
    server = boot_server("manual", sr=SAMPLE_RATE, nchnls=CHANNELS, buffersize=BUFFER)
    server.setGlobalSeed(1 + seed % (MAX_SEED - 1))     # pyo's Noise, Randi, ...: 0 would seed from the clock
    server.start()
    if bundle is None:
        bundle = load_default(model, codec, warn=False, float32=float32)
    session = Session(server=server, bundle=bundle, bpm=bpm, engine="thread", redo=False,
                      lookahead_seconds=LOOKAHEAD_SECONDS, threads=threads,
                      steps=steps, guidance=guidance)           # None: the model's card says
    threads_before = torch.get_num_threads()
    # As live: on 2 shared cores, 2 torch threads took 2.6 s a block while a neighbour ran, 1 took 60 ms.
    torch.set_num_threads(session.engine.threads)
    try:
        if adapter:
            session.adapter(adapter)
        namespace = prelude.namespace(session)
        skipped = _offline_namespace(namespace, session, seed, write)
        runner = PatchRunner(patch, session, namespace, write=write)
        if not runner.load():
            raise BounceError(f"{patch}: the patch failed (the line above says where); nothing was written")
        capture = Capture(session.master.output, ring_seconds=2.0, channels=CHANNELS)
        setup = time.perf_counter() - t0

        frames = int(round(seconds * SAMPLE_RATE))
        buffers = math.ceil(frames / BUFFER)
        written, peak = 0, 0.0
        t1 = time.perf_counter()
        subtype = "FLOAT" if out.suffix.lower() == ".wav" else "PCM_24"
        with sf.SoundFile(str(out), "w", SAMPLE_RATE, CHANNELS, subtype=subtype) as f:
            for i in range(buffers):
                while session.engine.step():     # every block due before this buffer plays
                    pass
                server.process()
                chunk = capture.read()[: frames - written]
                f.write(chunk)
                written += len(chunk)
                if len(chunk):
                    peak = max(peak, float(np.max(np.abs(chunk))))
                if progress is not None:
                    progress(i + 1, buffers)
        compute = time.perf_counter() - t1
        capture.close()
    finally:
        session.stop()
        server.stop()
        torch.set_num_threads(threads_before)
        for s in session.engine.streams:     # soxr's binding reports resamplers alive at exit as leaks
            s.resampler = s.delay = None
    return BounceResult(out, written / SAMPLE_RATE, written, compute, setup,
                        20 * math.log10(peak) if peak > 0 else float("-inf"), skipped[0])


def _offline_namespace(ns: dict, session, seed: int, write) -> list:
    """Offset the seeds of `stream` and `delay` by `seed`; answer `midi` with a port never opened.
    Returns a one-item list counting the midi calls (filled as the patch runs)."""
    from .midi import Midi

    def seeded(make):
        signature = inspect.signature(make)

        def call(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.arguments["seed"] = (bound.arguments.get("seed", 0) + seed) % MAX_SEED
            return make(*bound.args, **bound.kwargs)
        call.__doc__ = make.__doc__
        return call

    skipped = [0]

    def midi(port=None, api: str = "auto", virtual: str | None = None, watch_seconds: float = 1.0):
        """A bounce has no controller: mappings are made on a port that is never opened."""
        skipped[0] += 1
        if skipped[0] == 1:
            write(f"bounce: midi({virtual or port or ''!r}) is not opened offline; its mappings are kept, "
                  "no MIDI message arrives")
        return Midi(session, api=api, watch_seconds=watch_seconds)

    ns.update(stream=seeded(session.stream), delay=seeded(session.delay), midi=midi)
    return skipped
