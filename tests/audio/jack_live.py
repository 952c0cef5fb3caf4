"""Run under a JACK server: a Session with its master bus, as a performer would play it.

Started by test_live_jack.py in its own process (pyo allows one booted server per process);
lmdmlive/audio/jack_peer.py is the other end. Lines on stdin pace it: after "ready" it waits
for "go", then plays the live input alone for 1.5 s, then adds four loud sines and an
effect bound to no name for 1.5 s, stops recording, prints one JSON line and waits for
"quit".
"""
import json
import sys
import time

import pyo

from lmdmlive.audio.server import boot_server
from lmdmlive.live.session import Session
from tests.engine.test_engine import small_bundle


def main():
    server = boot_server("jack", nchnls=2, sr=48000, buffersize=256)
    server.start()
    session = Session(server=server, bundle=small_bundle(), steps=1, guidance=1.0)
    rec = session.record(sys.argv[1])
    time.sleep(1.0)                              # a second of silence recorded before anything plays
    print(json.dumps({"ready": True, "inputs": server.lmdm_inputs}), flush=True)
    sys.stdin.readline()
    session.live_input.out()                     # the input on the left
    time.sleep(1.5)
    loud = [pyo.Sine(f, mul=0.9).out(i % 2) for i, f in enumerate((220, 330, 550, 770))]
    # no name, on the right; without the bus, pyo frees it here (its refcount is 0). No
    # gc.collect(): it holds the GIL the audio callback waits for, and JACK drops buffers
    pyo.Freeverb(pyo.Sine(3000, mul=0.4), size=0.8, bal=1.0).out(1)
    reductions = []
    for _ in range(15):
        time.sleep(0.1)
        reductions.append(session.master.reduction)
    rec.stop()
    print(json.dumps({"frames": rec.frames, "min_reduction_db": min(reductions), "loud": len(loud),
                      "playing": len(session.master.playing())}), flush=True)
    sys.stdin.readline()
    server.stop()


if __name__ == "__main__":
    main()
