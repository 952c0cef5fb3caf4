"""The engine process: the model, the decoder and the text encoder, away from pyo's callback.

Three threads: the main one reads the performer's process's commands; one embeds
prompts (the text encoder takes about 10 s to load on a cold machine, so it loads at
start, beside the model); one loads the model and then runs the `Engine`, applying
stream changes between its rounds so that a block is never generated half-changed.
Every stream's audio goes into a ring in shared memory that the performer's process
plays from.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
import warnings

import numpy as np
import torch

from ..audio.ring import AudioRing

CONTROLS_TIMEOUT = 0.3      # seconds to wait for a block's controls before keeping the last ones
METRICS_SECONDS = 1.0       # the status bar redraws twice a second; fewer wake-ups of the audio process
NICENESS = 10               # the engine process yields a core to the audio process when both want it


class ControlsUnanswered(RuntimeError):
    pass


class RingEnd:
    """The engine's side of a stream's player: the shared ring and the server's shape."""

    def __init__(self, ring: AudioRing, sample_rate: int, buffer_size: int):
        self.ring, self.sample_rate, self.buffer_size = ring, sample_rate, buffer_size

    @property
    def underruns(self) -> int:
        return self.ring.underruns

    def close(self) -> None:
        self.ring.release()


class Inbox:
    """A delay's capture as the engine process sees it: chunks sent by the performer's process."""

    def __init__(self):
        self._chunks: list = []
        self._lock = threading.Lock()

    def put(self, chunk: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(chunk)

    def read(self) -> np.ndarray:
        with self._lock:
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)


class ChildHost:
    def __init__(self, cmd, ctl, opts: dict):
        self.cmd, self.ctl, self.opts = cmd, ctl, opts
        self.running = True
        self.engine = None
        self.engine_ready = threading.Event()
        self.text_ready = threading.Event()
        self.text = None
        self.audio_encoder = None
        self.adapter = None
        self.actions: queue.SimpleQueue = queue.SimpleQueue()
        self.embeds: queue.SimpleQueue = queue.SimpleQueue()
        self.streams: dict = {}
        self.inboxes: dict[int, Inbox] = {}
        self._send_lock = threading.Lock()
        self._seq = 0

    def send(self, message) -> None:
        try:
            with self._send_lock:
                self.cmd.send(message)
        except (OSError, ValueError):
            self.running = False

    # ---- threads ---------------------------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=self._embed_loop, name="lmdmlive-embed", daemon=True).start()
        engine_thread = threading.Thread(target=self._engine_loop, name="lmdmlive-engine", daemon=True)
        engine_thread.start()
        while self.running:
            try:
                msg = self.cmd.recv()
            except (EOFError, OSError):        # the performer's process went away
                break
            kind = msg[0]
            if kind == "stop":
                break
            if kind == "add" and msg[7] is not None:
                # a delay's input counts from when its ring was made, loaded or not
                self.inboxes[msg[1]] = Inbox()
            if kind == "input":
                inbox = self.inboxes.get(msg[1])
                if inbox is not None:
                    inbox.put(msg[2])
            elif kind == "style":
                self.embeds.put(msg)
            else:
                self.actions.put(msg)
        self.running = False
        engine_thread.join(timeout=5)

    def _embed_loop(self) -> None:
        from ..model.text_encoder import shared_text_encoder
        try:
            self.text = shared_text_encoder()
            self.text.embed(["warm up"])            # loads the model now, not at the first prompt
        except Exception as e:
            print(f"lmdmlive engine process: the text encoder did not load: {type(e).__name__}: {e}",
                  file=sys.stderr)
        self.text_ready.set()
        while self.running:
            try:
                _, req, parts = self.embeds.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                value = self._style(parts)
                self.send(("reply", req, True, value.detach().float().numpy()))
            except Exception as e:
                self.send(("reply", req, False, _plain_error(e)))

    def _style(self, parts) -> torch.Tensor:
        from .style import blend, embed_audio_file
        if self.text is None:
            raise RuntimeError("the text encoder did not load (see the message above)")

        def embed_audio(path):
            self.engine_ready.wait()
            if self.audio_encoder is None:
                from ..model.default import load_audio_prompt_encoder
                self.audio_encoder = load_audio_prompt_encoder()
            return embed_audio_file(self.engine.bundle.codec, self.audio_encoder, path)
        return blend(parts, lambda text: self.text.embed([text]), embed_audio)

    def _engine_loop(self) -> None:
        from ..model.default import load_default
        from .worker import Engine
        o = self.opts
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bundle = load_default(o["lmdm_path"], o["codec_path"], warn=False, float32=o["float32"])
            self.engine = Engine(bundle, o["server_rate"], steps=o["steps"], guidance=o["guidance"],
                                 lookahead_seconds=o["lookahead_seconds"], crossfade_blocks=o["crossfade_blocks"],
                                 threads=o["threads"], redo=o["redo"], warm=True)
        except Exception as e:
            self.send(("failed", f"the model did not load: {type(e).__name__}: {e}"))
            self.running = False
            return
        torch.set_num_threads(self.engine.threads)
        self.engine_ready.set()
        # Streams wait for their prompts anyway; generating while the text encoder loads
        # (seconds of both cores) would only make the first blocks late.
        self.text_ready.wait()
        self.send(("ready", bundle.source))
        last_metrics = 0.0
        while self.running:
            self._apply_actions()
            for s in self.engine.streams:
                s.active = not (s.player.ring.paused or s.player.ring.waiting)
            try:
                if not self.engine.step():
                    time.sleep(0.003)
            except Exception as e:        # a failing block must not end the performance
                self.engine.errors += 1
                print(f"lmdmlive engine: {type(e).__name__}: {e}", file=sys.stderr)
                time.sleep(0.05)
            now = time.perf_counter()
            if now - last_metrics >= METRICS_SECONDS:
                last_metrics = now
                m = self.engine.metrics()
                m.pop("lookahead_ms", None)
                self.send(("metrics", m))

    # ---- what the performer's process asks -------------------------------------------------------

    def _apply_actions(self) -> None:
        while True:
            try:
                msg = self.actions.get_nowait()
            except queue.Empty:
                return
            try:
                self._apply(msg)
            except Exception as e:
                if msg[0] == "adapter":
                    self.send(("reply", msg[1], False, _plain_error(e)))
                else:
                    print(f"lmdmlive engine process: {msg[0]}: {type(e).__name__}: {e}", file=sys.stderr)
                    traceback.print_exc()

    def _apply(self, msg) -> None:
        kind, engine = msg[0], self.engine
        if kind == "add":
            _, sid, name, capacity, fade, seed, buffer_size, delay = msg
            player = RingEnd(AudioRing.attach(name, capacity, fade), engine.server_rate, buffer_size)
            if delay is None:
                es = engine.add_stream(seed=seed, player=player)
            else:
                blocks, route, strength = delay
                inbox = self.inboxes.setdefault(sid, Inbox())
                es = engine.add_delay(inbox, delay_blocks=blocks, route=route, strength=strength, seed=seed,
                                      player=player)
            es.provider = self._provider(sid, es)
            self.streams[sid] = es
        elif kind == "remove":
            es = self.streams.pop(msg[1], None)
            self.inboxes.pop(msg[1], None)
            if es is not None:
                engine.remove_stream(es)
        elif kind == "changed":
            es = self.streams.get(msg[1])
            if es is not None:
                es.changed_at = time.perf_counter()
        elif kind == "adapter":
            from ..model import adapters
            _, req, name = msg
            self.adapter = adapters.switch(engine.bundle.lmdm, self.adapter, name)
            self.send(("reply", req, True, None))
        else:
            raise ValueError(f"unknown command {kind!r}")

    def _provider(self, sid: int, es):
        """Stream `sid`'s provider here: its frame times go to the performer's process, whose
        Stream answers with its controls (a BlockControls, converted here by the engine)."""
        from .process import controls_from_plain

        def controls(times):
            self._seq += 1
            seq = self._seq
            self.ctl.send(("controls", seq, sid, times))
            deadline = time.perf_counter() + CONTROLS_TIMEOUT
            while True:
                left = deadline - time.perf_counter()
                if left <= 0 or not self.ctl.poll(left):
                    raise ControlsUnanswered(f"no controls within {CONTROLS_TIMEOUT * 1000:.0f} ms "
                                             "(the performer's process is busy)")
                reply = self.ctl.recv()
                if reply[1] == seq:           # an answer to an earlier, abandoned question is dropped
                    break
            if reply[0] == "error":
                raise RuntimeError(reply[2])
            if reply[0] == "none":
                return es.controls
            return controls_from_plain(reply[2])
        return controls


def _plain_error(e: Exception) -> Exception:
    """The error as one that pickles across the pipe, with its type and message."""
    try:
        return type(e)(str(e)) if type(e).__module__ == "builtins" else ValueError(str(e))
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")


def main(argv=None) -> None:
    """`python -m lmdmlive.engine.process_child ADDRESS OPTIONS_JSON`, started by EngineProcess."""
    import json
    import os
    from multiprocessing.connection import Client

    argv = sys.argv[1:] if argv is None else argv
    address, opts = argv[0], json.loads(argv[1])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Below the performer's process: its threads hold the interpreter lock pyo's callback
    # waits for, and one of them preempted by the model while it holds it is a dropout.
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    # The first core is left to the audio process (the engine's torch threads are one fewer
    # than the cores, engine/worker.py default_threads): the performer's threads then never
    # wait behind the model for a core while they hold the lock pyo's callback needs.
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        try:
            os.sched_setaffinity(0, cores[1:])
        except OSError:
            pass
    key = bytes.fromhex(os.environ.pop("LMDMLIVE_ENGINE_KEY"))
    cmd = Client(address, family="AF_UNIX", authkey=key)
    ctl = Client(address, family="AF_UNIX", authkey=key)
    ChildHost(cmd, ctl, opts).run()


if __name__ == "__main__":
    main()
