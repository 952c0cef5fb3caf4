"""The soak as a listener hears it: streams on a JACK server, counted in JACK's own xruns.

Ring underruns count only what the engine was late for. What a listener hears is the
JACK output, and a JACK client that misses its period (pyo's callback waiting for
the interpreter's lock, or for a core) is a dropout even when every ring is full. So:

1. a plain pyo patch (two sines into a Freeverb) plays alone for the same time on the
   same kind of server: its xruns are the floor this machine gives any pyo client;
2. lmdmlive plays two streams and a generative delay as a performer's session plays
   them (the engine in its own process, every stream through the master bus), while
   a second process (`audio/jack_peer.py`) records lmdmlive's output ports;
3. jackd's log gives each client's xruns; the recording gives the peak and the gaps
   (runs of digital silence over 20 ms once the music has started).

    python -m lmdmlive.bench.soak_live '{"seconds": 60}'        # prints one JSON object
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GAP_MS = 20.0
SILENCE = 1e-6
CLIENT = "lmdmlive"
FLOOR_CLIENT = "lmdmlive-floor"
DEFAULTS = {"seconds": 60.0, "streams": 2, "delay": True, "model": None, "codec": None, "steps": None,
            "guidance": None, "threads": None, "seed": 0}


def gaps(audio: np.ndarray, rate: int, gap_ms: float = GAP_MS, start_after: float = 1.0) -> dict:
    """Runs of digital silence (every channel under `SILENCE`) longer than `gap_ms`, counted
    from `start_after` seconds after the first sound to the end."""
    audio = audio.reshape(len(audio), -1)
    loud = np.flatnonzero(np.abs(audio).max(axis=1) >= SILENCE)
    if not len(loud):
        return {"gaps": None, "gap_ms_max": None, "heard_seconds": 0.0}
    body = audio[loud[0] + int(start_after * rate):loud[-1] + 1]
    quiet = np.abs(body).max(axis=1) < SILENCE if len(body) else np.zeros(0, bool)
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    runs = np.flatnonzero(edges == -1) - starts
    limit = gap_ms * rate / 1000
    offset = loud[0] + int(start_after * rate)
    return {"gaps": int((runs > limit).sum()), "gap_ms_max": float(1000 * runs.max() / rate) if len(runs) else 0.0,
            "heard_seconds": float(len(body) / rate),
            "gap_at": [round(float((offset + a) / rate), 3) for a in starts[runs > limit][:20]]}


def play_floor(seconds: float) -> None:
    """The floor: a plain pyo patch, two sines into a Freeverb, on JACK for `seconds`."""
    import pyo
    server = pyo.Server(audio="jack", jackname=FLOOR_CLIENT, nchnls=2, buffersize=256, sr=48000)
    server.setVerbosity(1)
    server.boot().start()
    a, b = pyo.Sine(440, mul=0.1), pyo.Sine(660, mul=0.1)
    verb = pyo.Freeverb(a + b, size=0.8).out()
    time.sleep(seconds)
    verb.stop()
    server.stop()


def play_live(opts: dict) -> dict:
    """Two streams and a generative delay through the master bus, the engine in its own process."""
    import pyo
    import torch

    from ..audio.capture import Capture
    from ..audio.master import MasterBus
    from ..audio.melody import practice_melody
    from ..audio.server import boot_server
    from ..engine.controls import BlockControls
    from ..engine.process import EngineProcess

    o = dict(DEFAULTS, **opts)
    server = boot_server("jack", nchnls=2, sr=48000, buffersize=256, jack_name=CLIENT)
    server.start()
    bus = MasterBus().install()
    engine = EngineProcess(48000, o["model"], o["codec"], steps=o["steps"] or None, guidance=o["guidance"],
                           threads=o["threads"])
    g = torch.Generator().manual_seed(int(o["seed"]))
    streams = []
    for i in range(int(o["streams"]) + (1 if o["delay"] else 0)):
        v = torch.randn(1, engine.bundle.lmdm.cfg.style_dim, generator=g)
        if i < int(o["streams"]):
            s = engine.add_stream(seed=i)
        else:
            s = engine.add_delay(Capture(practice_melody()), delay_blocks=4, route="sketch", seed=99)
        controls = BlockControls(style=v / v.norm())
        s.provider = lambda times, controls=controls: controls
        streams.append(s)
    mix = pyo.Mix([s.player for s in streams], voices=2, mul=0.5).out()
    if not engine.wait_ready():
        raise RuntimeError(f"the engine process did not start ({engine.failed})")
    print("playing", flush=True)
    t0 = time.perf_counter()
    seconds = float(o["seconds"])
    time.sleep(min(10.0, 0.2 * seconds))
    warm = engine.rss_bytes()
    time.sleep(seconds - min(10.0, 0.2 * seconds))
    end = engine.rss_bytes()
    m = engine.metrics()
    engine.stop()
    mix.stop()
    bus.uninstall()
    server.stop()
    return {"underruns": m["underruns"], "errors": m["errors"], "blocks": m["blocks"], "rtf": m["rtf"],
            "block_ms_max": m["block_ms_max"], "wall": time.perf_counter() - t0, "rss_growth": end / warm}


def soak(seconds: float = 60.0, progress=print, **opts) -> dict:
    """The whole measurement (floor, then lmdmlive with a listener) on a private dummy JACK server."""
    from ..audio.jack import dummy_jack, xruns

    opts = dict(opts, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="lmdmlive-soak-") as tmp:
        log, heard = Path(tmp) / "jackd.log", Path(tmp) / "heard.wav"
        with dummy_jack(log=log) as env:
            progress(f"  the floor: a plain pyo patch for {seconds:.0f} s ...")
            _run([sys.executable, "-m", "lmdmlive.bench.soak_live", "--floor", str(seconds)], env, seconds + 60)
            floor = xruns(log, FLOOR_CLIENT)
            progress(f"  lmdmlive: {opts.get('streams', 2)} streams and a generative delay for {seconds:.0f} s ...")
            live = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "lmdmlive.bench.soak_live",
                                     json.dumps(opts)], env=env, stdout=subprocess.PIPE, text=True)
            try:
                for line in live.stdout:               # "playing": the engine is up, the clock runs
                    if line.strip() == "playing":         # (pyo prints its own lines first)
                        break
                else:
                    raise RuntimeError(f"the soak's lmdmlive process ended before playing (exit code {live.wait()})")
                _run([sys.executable, "-m", "lmdmlive.audio.jack_peer", "--record-from",
                      f"{CLIENT}:output_1,{CLIENT}:output_2", "--seconds", str(seconds - 2), "--out", str(heard)],
                     env, seconds + 60)
                rest, _ = live.communicate(timeout=120)
            finally:
                if live.poll() is None:
                    live.kill()
            if live.returncode != 0:
                raise RuntimeError(f"the soak's lmdmlive process failed (exit code {live.returncode})")
            result = json.loads(rest.strip().splitlines()[-1])
            lost = xruns(log, CLIENT)
        import soundfile as sf
        audio, rate = sf.read(str(heard), dtype="float32", always_2d=True)
    g = gaps(audio, rate)
    return {"soak_seconds": seconds, "soak_xruns": lost, "soak_xruns_floor": floor,
            "soak_peak": float(np.abs(audio).max()), "soak_gaps": g["gaps"], "soak_gap_ms_max": g["gap_ms_max"],
            "soak_heard_seconds": g["heard_seconds"], "soak_underruns": result["underruns"],
            "soak_errors": result["errors"], "soak_blocks": result["blocks"], "soak_rtf": result["rtf"],
            "soak_block_ms_max": result["block_ms_max"], "soak_rss_growth": result["rss_growth"]}


def _run(cmd, env, timeout) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed (exit code {out.returncode}): {out.stderr.strip()[-800:]}")
    return out.stdout


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--floor":
        play_floor(float(argv[1]))
        return 0
    if argv and argv[0] == "--soak":         # the whole measurement, from a shell
        print(json.dumps(soak(**(json.loads(argv[1]) if len(argv) > 1 else {}))))
        return 0
    opts = json.loads(argv[0]) if argv else {}
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        print(f"unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}", file=sys.stderr)
        return 2
    print(json.dumps(play_live(opts)), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
