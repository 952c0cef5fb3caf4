"""The bench's figures that need real time: control-to-sound latency and the soak, on private JACK servers.

Each run is a process of its own (pyo boots one server per process): `realtime_run`
for latency, `soak_live` for the soak as a listener hears it. A run that fails is
reported and the others are still measured.
"""
from __future__ import annotations

import json
import subprocess
import sys

from ..model import Codec, LMDM
from ..model.int8 import uses_int8
from .reshaped import with_block
from .runners import measure_rtf
from .soak_live import soak as soak_as_heard


def realtime(opts: dict, timeout: float) -> dict:
    """One `realtime_run` in its own process, on a private JACK server (dummy driver)."""
    from ..audio.jack import dummy_jack
    with dummy_jack() as env:
        out = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "lmdmlive.bench.realtime_run",
                              json.dumps(opts)], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"real-time run failed (exit code {out.returncode}): {out.stderr.strip()[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def smallest_realtime_block(model: LMDM, codec: Codec, steps: int, guidance: float, min_rtf: float = 1.5,
                            frames=(6, 4, 3, 2)) -> tuple[int, float]:
    """The smallest block (in frames) whose real-time factor stays >= min_rtf, and that factor."""
    best = (model.cfg.block_frames, measure_rtf(model, codec, steps, guidance, 6))
    for f in frames:
        rtf = measure_rtf(with_block(model, f), codec, steps, guidance, 12)
        if rtf < min_rtf:
            break
        best = (f, rtf)
    return best


def _at(steps: int, suffix: str) -> str:
    """The words " at N steps" in the progress of the four-step side of the trade; none on the default side."""
    return f" at {steps} steps" if suffix else ""


def default_block_latency(base: dict, steps: int, span: float, suffix: str = "", progress=print) -> dict:
    """Control-to-sound latency at the default block, played at `steps`; keys end in `suffix`
    ("_4steps" for the four-step side of the bench's trade)."""
    at = _at(steps, suffix)
    progress(f"control-to-sound latency at the default block size{at} ({span:.0f} s in real time on JACK) ...")
    r = realtime(dict(base, steps=steps, seconds=span, streams=1, changes=True), timeout=span + 120)
    if r["steps"] != steps:
        raise RuntimeError(f"the real-time run played {r['steps']} steps where {steps} were asked")
    return {f"latency_p95_ms{suffix}": r["latency_p95_ms"], f"latency_p50_ms{suffix}": r["latency_p50_ms"],
            f"latency_changes{suffix}": r["changes"], f"latency_underruns{suffix}": r["underruns"]}


def smallest_block_latency(model: LMDM, codec: Codec, base: dict, steps: int, span: float, suffix: str = "",
                           progress=print) -> dict:
    """The same at the smallest block that stays real time at `steps`: where a step count's
    saved compute can go, as latency a performer hears."""
    at = _at(steps, suffix)
    progress(f"finding the smallest block with a real-time factor >= 1.5{at} ...")
    frames, rtf_low = smallest_realtime_block(model, codec, steps, base["guidance"])
    progress(f"latency at {frames}-frame blocks{at} ({span:.0f} s in real time) ...")
    r = realtime(dict(base, steps=steps, seconds=span, streams=1, changes=True, block_frames=frames),
                 timeout=span + 120)
    return {f"latency_p95_ms_low{suffix}": r["latency_p95_ms"],
            f"block_seconds_low{suffix}": frames / model.cfg.frame_rate, f"rtf_low{suffix}": rtf_low,
            f"latency_low_underruns{suffix}": r["underruns"]}


def run_realtime_figures(model: LMDM, codec: Codec, steps: int, guidance: float, quick: bool, model_path=None,
                         codec_path=None, progress=print, threads: int | None = None) -> dict:
    """Latency at the default and the smallest real-time block (and, when the default is not
    four steps, the same at four, in the same run: the latency fewer steps were spent on),
    then the soak; a run that fails is reported (`realtime_errors`) and the others still are
    measured. `threads`: the engine's torch threads (default: the engine's own choice, as a
    performance gets it)."""
    from ..engine.worker import default_threads      # imports pyo: only when real-time runs are asked for

    threads = threads or default_threads()
    base = {"threads": threads, "model": model_path, "codec": codec_path, "steps": steps, "guidance": guidance,
            "float32": not uses_int8(model)}
    span = 20.0 if quick else 60.0
    out: dict = {"realtime_errors": [], "realtime_threads": threads}

    def attempt(what, fn):
        try:
            out.update(fn() or {})
        except Exception as e:          # one failed run must not lose the others' figures
            out["realtime_errors"].append(f"{what}: {e}")
            progress(f"  {what} failed: {str(e)[-400:]}")

    def soak_run():
        seconds = 60.0 if quick else 600.0
        progress(f"soak: two streams and a generative delay for {seconds / 60:.0f} min in real time on JACK, "
                 "as a listener hears it ...")
        return soak_as_heard(seconds, progress=progress, model=model_path, codec=codec_path,
                             steps=steps, guidance=guidance, threads=threads)

    for n, suffix in [(steps, "")] + ([(4, "_4steps")] if steps != 4 else []):
        at = _at(n, suffix)
        attempt(f"latency{at}", lambda n=n, suffix=suffix: default_block_latency(base, n, span, suffix, progress))
        attempt(f"latency at small blocks{at}",
                lambda n=n, suffix=suffix: smallest_block_latency(model, codec, base, n, span, suffix, progress))
    attempt("soak", soak_run)
    return out
