"""One real-time run of the engine on a JACK server, measured: the bench's soak and latency figures.

    JACK_DEFAULT_SERVER=NAME python -m lmdmlive.bench.realtime_run '{"seconds": 60, "streams": 2, "delay": true}'

Runs in its own process (pyo boots one server per process) against a JACK server the
caller started (`lmdmlive.audio.jack.dummy_jack`). Streams play for `seconds` of real
time; with `changes`, the first stream's prompt changes at random moments (0.4 to
1.2 s apart) and every change's control-to-sound latency is recorded: from the
change to the first sample generated under it reaching the output. Prints one JSON
object on the last line.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings

import numpy as np
import pyo
import torch

DEFAULTS = {"seconds": 20.0, "streams": 1, "delay": False, "changes": False, "block_frames": None,
            "threads": None, "model": None, "codec": None, "steps": None, "guidance": None, "seed": 0,
            "float32": False}


def run(opts: dict) -> dict:
    from ..audio.capture import Capture
    from ..audio.melody import practice_melody
    from ..audio.server import boot_server
    from ..engine.controls import BlockControls
    from ..model.bf16 import uses_bf16
    from ..model.default import load_default
    from ..engine.memory import rss_bytes
    from ..engine.worker import Engine
    from .reshaped import with_block

    o = dict(DEFAULTS, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(o["model"], o["codec"], warn=False, float32=o["float32"])
    if o["block_frames"]:
        bundle = dataclasses.replace(bundle, lmdm=with_block(bundle.lmdm, int(o["block_frames"])))
    server = boot_server("jack", nchnls=1, sr=48000, buffersize=256, jack_name=f"lmdmlive-rt-{os.getpid()}")
    server.start()
    engine = Engine(bundle, 48000, steps=o["steps"] or None, guidance=o["guidance"],
                    threads=int(o["threads"]) if o["threads"] else None)
    g = torch.Generator().manual_seed(int(o["seed"]))

    def style():
        v = torch.randn(1, bundle.lmdm.cfg.style_dim, generator=g)
        return v / v.norm()

    streams = []
    for i in range(int(o["streams"])):
        s = engine.add_stream(seed=i)
        s.set_controls(BlockControls(style=style()))
        streams.append(s)
    if o["delay"]:
        d = engine.add_delay(Capture(practice_melody()), delay_blocks=4, route="sketch", seed=99, style=style())
        streams.append(d)
    mix = pyo.Mix([s.player for s in streams], voices=1).out()
    engine.start()
    t0 = time.perf_counter()
    rss, rng = {}, np.random.default_rng(int(o["seed"]))
    next_change = t0 + 1.5
    seconds = float(o["seconds"])
    while (now := time.perf_counter()) - t0 < seconds:
        if o["changes"] and now >= next_change and streams:
            streams[0].set_controls(BlockControls(style=style()))
            next_change = now + rng.uniform(0.4, 1.2)
        if "warm" not in rss and now - t0 >= min(10.0, 0.2 * seconds):
            rss["warm"] = rss_bytes()
        time.sleep(0.01)
    rss["end"] = rss_bytes()
    engine.stop()
    m = engine.metrics()
    lat = [x for s in streams for x in s.latencies]
    mix.stop()
    server.stop()
    return {
        "seconds": seconds, "streams": int(o["streams"]), "delay": bool(o["delay"]),
        "block_seconds": bundle.lmdm.cfg.block_seconds,
        "underruns": m["underruns"], "errors": m["errors"], "blocks": m["blocks"], "rtf": m["rtf"],
        "block_ms_p50": m["block_ms_p50"], "block_ms_max": m["block_ms_max"], "threads": engine.threads,
        "steps": engine.steps,
        "redos": m["redos"], "int8": not o["float32"], "bf16": uses_bf16(bundle.codec),
        "lookahead_target_ms": m["lookahead_target_ms"],
        "latency_p50_ms": 1000 * float(np.percentile(lat, 50)) if lat else None,
        "latency_p95_ms": 1000 * float(np.percentile(lat, 95)) if lat else None,
        "changes": len(lat), "rss_growth": rss["end"] / rss["warm"],
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = json.loads(argv[0]) if argv else {}
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        print(f"unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}", file=sys.stderr)
        return 2
    print(json.dumps(run(opts)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
