"""Run under a JACK server: a performer's session on the shipped model, its engine in a process
of its own, as `lmdmlive` plays it. Started by test_set_on_jack.py; a second process
(lmdmlive/audio/jack_peer.py) plays into lmdmlive:input_1 and records lmdmlive:output_1/2.

    python -m tests.audio.jack_set delay            # a strength-0 latent delay of 4 blocks
    python -m tests.audio.jack_set changes CLIP DIR  # a stream, then the API's work during play
    python -m tests.audio.jack_set hold             # a stream, then a line that holds the interpreter

It prints "sounding" once its first stream is heard, then JSON lines with what it did
and when (seconds since "sounding"), and waits for "quit" on stdin.
"""
import json
import sys
import time

import torch
from safetensors.torch import save_file

from lmdmlive.live.prompt import Prompt
from lmdmlive.live.session import Session


def wait_sounding(stream, timeout=180.0) -> None:
    t0 = time.perf_counter()
    while stream.player.ring.written <= stream.player.ring.read or stream.player.ring.written == 0:
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"the stream did not sound within {timeout:.0f} s")
        time.sleep(0.05)


def make_adapter(session, folder: str) -> str:
    """A small random adapter for the shipped model, in the adapters folder the test set."""
    from lmdmlive.model.adapters import write_card
    from lmdmlive.model.default import load_default
    from lmdmlive.model.lora import adapter_state, add_adapters
    model = load_default(float32=True).lmdm
    torch.manual_seed(0)
    for p in add_adapters(model, rank=4, alpha=4.0):
        p.data.normal_(0, 0.02)
    weights = f"{folder}/jacktest.safetensors"
    save_file(adapter_state(model), weights)
    from pathlib import Path
    write_card(Path(weights), rank=4, alpha=4.0, base="shipped")
    return "jacktest"


def main():
    scenario = sys.argv[1]
    session = Session(audio="jack", bpm=120)
    assert session.engine_apart, "on a real-time server the engine runs in a process of its own"
    session.start()
    t0 = None

    def say(**what):
        print(json.dumps(dict(what, at=time.perf_counter() - t0)), flush=True)

    if scenario == "delay":
        d = session.delay(blocks=4, route="latent", strength=0.0).out()
        wait_sounding(d)
        t0 = time.perf_counter()
        print("sounding", flush=True)
    elif scenario == "changes":
        clip, folder = sys.argv[2], sys.argv[3]
        adapter = make_adapter(session, folder)
        a = session.stream("warm ambient pads", seed=1).out()
        wait_sounding(a)
        t0 = time.perf_counter()
        print("sounding", flush=True)
        time.sleep(3.0)
        b = session.stream("dusty boom bap drums", seed=2).out()
        b.pan = 0.8
        say(did="stream")
        time.sleep(3.0)
        a.prompt = Prompt(audio=clip)
        say(did="audio prompt")
        time.sleep(3.0)
        session.adapter(adapter)
        say(did="adapter")
        time.sleep(3.0)
        say(did="end", errors=session.engine.metrics()["errors"], underruns=session.engine.metrics()["underruns"])
    elif scenario == "hold":
        a = session.stream("warm ambient pads", seed=1).out()
        wait_sounding(a)
        t0 = time.perf_counter()
        print("sounding", flush=True)
        time.sleep(3.0)
        say(did="hold")
        x = 10 ** (3 * 10 ** 6)           # one line that holds the interpreter's lock for seconds
        say(did="held", bits=x.bit_length())
        time.sleep(3.0)
        say(did="end", errors=session.engine.metrics()["errors"], xruns=session.xruns)
    sys.stdin.readline()
    session.stop()
    session.server.stop()


if __name__ == "__main__":
    main()
