"""The engine in a process of its own, so the audio callback never waits for the model.

pyo's audio callback takes the interpreter's lock for every buffer (servermodule.c,
`Server_process_buffers`). With the engine as a thread of the performer's process,
every bit of its Python (the sampler's loop, the decoder's glue, soxr) competed for
that lock with the callback: on `jackd -d dummy -r 48000 -p 256` two streams made
JACK log `client = lmdmlive was not finished` 252 times in 75 s, against 37 for a plain
pyo patch. Here the model, the decoder and the text encoder live in a child process
(`engine/process_child.py`); the performer's process keeps pyo, the clock and the
streams' controls, and its interpreter is idle while music plays.

    performer's process                      engine process
    Stream.controls_at ◄── "controls" ────── Engine (the same class as in a thread)
    StreamPlayer ◄── shared-memory ring ◄─── decode + resample
    Capture ──────────── "input" ──────────► DelayInput
    Prompt text ──────── "style" ──────────► MiniLM / audio-prompt encoder ─► future

The child asks for a block's controls when it needs them (as late as possible, so a
change lands soon), sending the block's frame times; the answer is a `BlockControls`
in the performer's units, which the child turns into the model's conditions. It gives
up on an answer after `CONTROLS_TIMEOUT`, keeping the stream's previous controls, so a
performer's process busy with their own code costs the new block its freshest
controls, never the audio already queued.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, fields, replace
from multiprocessing.connection import Listener

import numpy as np
import torch

from ..audio.player import StreamPlayer
from ..model.checkpoint import read_card
from ..model.config import CodecConfig, LMDMConfig
from ..model.default import DEFAULT_CODEC, DEFAULT_LMDM
from ..model.sampling import Sampling, sampling_from_card
from .controls import BlockControls
from .delay import check_delay
from .memory import rss_bytes

PUMP_SECONDS = 0.02         # how often captured input is sent to the engine process
START_TIMEOUT = 120.0       # loading the model and the text encoder on a cold machine


@dataclass(frozen=True)
class _Configs:
    cfg: object


@dataclass(frozen=True)
class ModelShape:
    """What the performer's process knows of the model: its configs and how it plays by
    default, read from the cards."""
    lmdm: _Configs
    codec: _Configs
    lmdm_path: str | None
    codec_path: str | None
    sampling: Sampling

    @classmethod
    def of(cls, lmdm_path=None, codec_path=None) -> "ModelShape":
        def card_of(path, default):
            path = path or default
            try:
                return read_card(path), str(path)
            except Exception:
                if path is default:          # no shipped model: the engine process says so itself
                    return None, str(path)
                raise

        def config(card, where, config_cls):
            return config_cls() if card is None else config_cls.from_dict(card["config"], where=where)
        lmdm_card, lmdm_where = card_of(lmdm_path, DEFAULT_LMDM)
        codec_card, codec_where = card_of(codec_path, DEFAULT_CODEC)
        return cls(_Configs(config(lmdm_card, lmdm_where, LMDMConfig)),
                   _Configs(config(codec_card, codec_where, CodecConfig)),
                   None if lmdm_path is None else str(lmdm_path), None if codec_path is None else str(codec_path),
                   Sampling() if lmdm_card is None else sampling_from_card(lmdm_card, lmdm_where))


def controls_to_plain(controls: BlockControls) -> dict:
    """The controls as plain values for the pipe: a tensor would cross it through torch's own
    pickling (shared-memory handles), numpy arrays and numbers cross as bytes."""
    plain = {f.name: getattr(controls, f.name) for f in fields(controls)}
    plain["style"] = None if controls.style is None else controls.style.detach().float().numpy()
    plain["arrangement"] = dict(controls.arrangement)
    return plain


def controls_from_plain(plain: dict) -> BlockControls:
    controls = BlockControls(**plain)
    return controls if controls.style is None else replace(controls, style=torch.from_numpy(controls.style))


class RemoteStream:
    """The performer's side of one stream in the engine process: what `Stream` reads and sets.

    `provider(frame_times)` (a Stream's `controls_at`) is asked by the engine process for
    each block's controls, and writes nothing back. A stream whose first prompt is still
    being embedded is held (`waiting`), so it never starts under no prompt at all.
    """

    def __init__(self, host: "EngineProcess", sid: int, player: StreamPlayer, seed: int):
        self._host, self.id, self.player, self.seed = host, sid, player, seed
        self.provider = None
        self.active = True
        self.capture = None

    @property
    def changed_at(self):
        return None

    @changed_at.setter
    def changed_at(self, value) -> None:
        """The performer changed something: the engine may generate the playing block again."""
        self._host._send(("changed", self.id))

    def wait_for(self, future: Future) -> None:
        """Hold the stream until `future` (its first prompt) is resolved."""
        self.player.ring.waiting = True

        def done(_):
            self.player.ring.waiting = False
            self.changed_at = time.perf_counter()
        future.add_done_callback(done)


class EngineProcess:
    """An `Engine` in a child process, driven from the performer's process.

    Streams are added and removed at once (the child takes them when its model is
    loaded); text and audio prompts are embedded there, returned as futures.
    """

    def __init__(self, server_rate: int, lmdm_path=None, codec_path=None, *, steps: int | None = None,
                 guidance: float | None = None, threads: int | None = None, crossfade_blocks: int = 1,
                 redo: bool = True, lookahead_seconds: float | None = None, float32: bool = False):
        self.server_rate = int(server_rate)
        self.bundle = ModelShape.of(lmdm_path, codec_path)
        # pyo's callback asks for the interpreter's lock every buffer (5.3 ms at 256 samples):
        # this process's own threads give it up within a millisecond, not Python's default 5.
        sys.setswitchinterval(0.001)
        played = self.bundle.sampling.changed(steps=steps, guidance=guidance)     # the card's, unless given
        self.steps, self.guidance = played.steps, played.guidance
        self.streams: list[RemoteStream] = []
        self.errors = 0
        self.ready = threading.Event()
        self.failed: str | None = None
        self._by_id: dict[int, RemoteStream] = {}
        self._ids = itertools.count(1)
        self._requests = itertools.count(1)
        self._replies: dict[int, Future] = {}
        self._metrics: dict = {}
        self._rings: list = []
        self._running = True
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._cmd = self._ctl = None
        # A fresh interpreter (not multiprocessing's spawn, which imports the performer's
        # script again): it connects back over a local socket, with a key only it was given.
        key = os.urandom(16)
        self._listener = Listener(family="AF_UNIX", authkey=key)
        opts = dict(lmdm_path=self.bundle.lmdm_path, codec_path=self.bundle.codec_path, server_rate=self.server_rate,
                    steps=steps, guidance=guidance, threads=threads, crossfade_blocks=crossfade_blocks, redo=redo,
                    lookahead_seconds=lookahead_seconds, float32=float32)
        self._proc = subprocess.Popen([sys.executable, "-m", "lmdmlive.engine.process_child", self._listener.address,
                                       json.dumps(opts)], env=dict(os.environ, LMDMLIVE_ENGINE_KEY=key.hex()))
        threading.Thread(target=self._connect, name="lmdmlive-engine-connect", daemon=True).start()

    # ---- streams -------------------------------------------------------------------------------

    def add_stream(self, style=None, seed: int = 0, delay=None, **player_kwargs) -> RemoteStream:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
            raise ValueError(f"seed must be a whole number from 0 to {2 ** 31 - 1}, got {seed!r}")
        player = StreamPlayer(shared=True, **player_kwargs)
        if player.sample_rate != self.server_rate:
            raise ValueError(f"the server runs at {player.sample_rate} Hz, the engine was made for {self.server_rate}")
        stream = RemoteStream(self, next(self._ids), player, seed)
        ring = player.ring
        self._rings.append(ring)
        self._by_id[stream.id] = stream
        self.streams = self.streams + [stream]
        self._send(("add", stream.id, ring.memory.name, ring.capacity, ring.fade, seed, player.buffer_size, delay))
        return stream

    def add_delay(self, capture, delay_blocks: int, route: str = "sketch", strength: float = 0.5, seed: int = 0,
                  style=None, **player_kwargs) -> RemoteStream:
        """A generative delay: `capture`'s input is sent to the engine process as it comes."""
        check_delay(delay_blocks, route)
        stream = self.add_stream(seed=seed, delay=(delay_blocks, route, float(strength)), **player_kwargs)
        stream.capture = capture
        return stream

    def remove_stream(self, stream: RemoteStream) -> None:
        self.streams = [s for s in self.streams if s is not stream]
        self._by_id.pop(stream.id, None)
        stream.player.close()
        self._send(("remove", stream.id))

    # ---- prompts and adapters --------------------------------------------------------------------

    def style(self, parts) -> Future:
        """A future (1, dim) vector of prompt parts (engine/style.py), embedded in the engine process."""
        return self._request("style", list(parts))

    def adapter(self, name, timeout: float = 60.0) -> None:
        """Play through an adapter (None: the plain model); raises what the engine process raised."""
        self._request("adapter", name).result(timeout)

    # ---- the process -----------------------------------------------------------------------------

    def start(self) -> None:
        """The engine process starts generating as soon as its model is loaded."""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        return self.ready.wait(timeout)

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._send(("stop",))
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        for s in list(self.streams):
            s.player.close()
        for ring in self._rings:
            ring.release(unlink=True)
        for c in (self._cmd, self._ctl):
            if c is not None:
                c.close()

    def rss_bytes(self) -> int:
        """The engine process's resident memory, for the soak's memory budget."""
        return rss_bytes(self._proc.pid)

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def metrics(self) -> dict:
        m = dict(self._metrics)
        m.update(underruns=sum(s.player.underruns for s in self.streams),
                 lookahead_ms={i: 1000 * s.player.ring.lookahead() / self.server_rate
                               for i, s in enumerate(self.streams)},
                 errors=m.get("errors", 0) + self.errors)
        for key in ("rtf", "block_ms_p50", "block_ms_max", "lookahead_target_ms", "latency_ms_p95"):
            m.setdefault(key, float("nan"))
        m.setdefault("blocks", 0)
        m.setdefault("redos", 0)
        return m

    # ---- plumbing --------------------------------------------------------------------------------

    def _connect(self) -> None:
        """Take the engine process's two connections, then serve them (a thread: never blocks the prompt)."""
        try:
            self._cmd = self._listener.accept()
            self._ctl = self._listener.accept()
        except (OSError, EOFError) as e:
            self._gone(f"it did not connect ({type(e).__name__}: {e})")
            return
        finally:
            self._listener.close()
        for target, name in ((self._read_replies, "replies"), (self._serve_controls, "controls"),
                             (self._pump_inputs, "input"), (self._send_outbox, "send")):
            threading.Thread(target=target, name=f"lmdmlive-engine-{name}", daemon=True).start()

    def _send(self, message) -> None:
        """Queue a message: sent in order by one thread, so no caller ever waits on the pipe."""
        self._outbox.put(message)

    def _send_outbox(self) -> None:
        while True:
            message = self._outbox.get()
            try:
                self._cmd.send(message)
            except (OSError, ValueError) as e:
                self._gone(f"{type(e).__name__}: {e}")
                return
            if message[0] == "stop":
                return

    def _request(self, kind: str, payload) -> Future:
        future: Future = Future()
        if not self.alive:
            future.set_exception(RuntimeError(f"the engine process is not running ({self.failed or 'it exited'})"))
            return future
        req = next(self._requests)
        self._replies[req] = future
        self._send((kind, req, payload))
        return future

    def _gone(self, why: str) -> None:
        if self._running and self.failed is None:
            self.failed = why
            print(f"lmdmlive engine process: {why}", file=sys.stderr)
        for f in list(self._replies.values()):
            if not f.done():
                f.set_exception(RuntimeError(f"the engine process is gone ({why})"))
        self._replies.clear()

    def _read_replies(self) -> None:
        while True:
            try:
                msg = self._cmd.recv()
            except (EOFError, OSError):
                self._gone("it exited")
                return
            kind = msg[0]
            if kind == "reply":
                _, req, ok, value = msg
                future = self._replies.pop(req, None)
                if future is not None:
                    if ok:
                        future.set_result(torch.from_numpy(value) if isinstance(value, np.ndarray) else value)
                    else:
                        future.set_exception(value)
            elif kind == "metrics":
                self._metrics = msg[1]
            elif kind == "ready":
                self.ready.set()
                print(f"lmdmlive engine ready: {msg[1]}, in a process of its own", file=sys.stderr, flush=True)
            elif kind == "failed":
                self._gone(msg[1])

    def _serve_controls(self) -> None:
        """Answer the engine process's "controls for block N of stream S" (run here, where the lanes are)."""
        while True:
            try:
                _, seq, sid, times = self._ctl.recv()
            except (EOFError, OSError):
                return
            stream = self._by_id.get(sid)
            try:
                if stream is None or stream.provider is None:
                    reply = ("none", seq)
                else:
                    reply = ("ok", seq, controls_to_plain(stream.provider(times)))
            except Exception as e:      # a pattern that fails at play time: the engine keeps the last ones
                reply = ("error", seq, f"{type(e).__name__}: {e}")
            try:
                self._ctl.send(reply)
            except (OSError, ValueError):
                return

    def _pump_inputs(self) -> None:
        """Send what each delay's capture heard since the last round."""
        while self._running:
            for s in list(self.streams):
                if s.capture is not None:
                    try:
                        chunk = s.capture.read()
                    except Exception:        # a closed capture: its stream is going away
                        continue
                    if len(chunk):
                        self._send(("input", s.id, chunk))
            time.sleep(PUMP_SECONDS)
