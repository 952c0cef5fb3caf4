"""Run under a JACK server: one engine stream played in real time for 20 s, a 2 s stall at 12 s.

Started by test_jack.py in its own process (pyo allows one booted server per process).
Prints one JSON object with what the test checks.
"""
import json
import sys
import time

import numpy as np
import pyo
import torch

from lmdmlive.audio.server import boot_server
from lmdmlive.engine.worker import Engine
from tests.engine.test_engine import small_bundle

SECONDS, STALL_AT, STALL = 20.0, 12.0, 2.0


def longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def main():
    torch.set_num_threads(1)      # one core for the model, one for JACK and pyo
    server = boot_server("jack", nchnls=1, sr=48000, buffersize=256)
    server.start()
    engine = Engine(small_bundle(), 48000, steps=1, guidance=1.0, lookahead_seconds=0.5)
    stream = engine.add_stream(seed=5)
    table = pyo.NewTable(length=SECONDS)
    rec = pyo.TableRec(stream.player, table, fadetime=0).play()
    engine.start()
    t0 = time.perf_counter()
    lookaheads = []
    for _ in range(int(STALL_AT * 10)):
        time.sleep(0.1)
        lookaheads.append(stream.player.ring.lookahead() / 48000)
    before = stream.player.underruns
    engine.stall_seconds = STALL
    time.sleep(SECONDS - STALL_AT + 0.3)
    engine.stop()
    rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    server.stop()
    sr = 48000
    steady = out[sr:int(STALL_AT * sr)]
    print(json.dumps({
        "wall": time.perf_counter() - t0,
        "underruns_before_stall": before,
        "underruns": stream.player.underruns,
        "zero_run_ms_before_stall": 1000 * longest_run(np.abs(steady) < 1e-7) / sr,
        "max_jump": float(np.abs(np.diff(out)).max()),
        "typical_jump": float(np.percentile(np.abs(np.diff(steady)), 99.9)),
        "rms_last_second": float(np.sqrt(np.mean(out[-sr:] ** 2))),
        "errors": engine.errors,
        "blocks": engine.metrics()["blocks"],
        "block_ms_max": engine.metrics()["block_ms_max"],
        "min_lookahead_s": min(lookaheads[10:]) if len(lookaheads) > 10 else None,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
