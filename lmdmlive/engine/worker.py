"""The engine: one thread that keeps every live stream's ring ahead of the play head.

Each round it takes the streams whose lookahead fell under the target, asks each for
its next block's controls (engine/controls.py, in the performer's units), turns them
into the model's conditions, generates the block for all of them in one batched model
call (each with its own cache, seed and conditions, snapshotted at the block boundary),
decodes and resamples each to the server's rate, and writes it into that stream's ring.
The audio callback only reads rings, so a late block costs an underrun (a fade,
counted), never a stall.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
from collections import deque
import threading
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import soxr
import torch

from ..audio.player import StreamPlayer
from ..model import Conditions, generate_block
from ..model.conditioning import stack_conditions
from ..model.default import ModelBundle
from ..model.loudness_follow import FollowingDecoder
from .controls import BlockControls, Glide, Provider, frame_times, to_conditions
from .delay import DelayInput, check_delay
from .redo import PRIMER_SECONDS, MidBlockChanges, RewindPoint


ADAPTIVE_START, ADAPTIVE_MIN, ADAPTIVE_MAX = 0.4, 0.05, 1.0
PUMP_SECONDS = 0.02          # how often delay inputs are collected


def default_threads() -> int:
    """Torch threads for the engine: one core fewer than the machine has.

    The audio callback needs a core of its own: measured on 2 cores under JACK, one
    torch thread gave a real-time factor of 4.4 and p95 latency 566 ms, two threads
    3.8 and 659 ms (docs/dev/engine.md).
    """
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class EngineStream:
    player: StreamPlayer
    seed: int                              # the stream's own; its controls may give another per block
    controls: BlockControls                # what the next block is generated under (when no provider)
    cache: object = None
    decoder: object = None
    resampler: object = None
    blocks: int = 0                        # the next block's index on the stream's grid (see _start_in_time)
    first_block: int = 0                   # where it started on that grid
    changed_at: float | None = None        # when the performer last changed the conditions
    provider: Provider | None = None       # frame times -> BlockControls (a Stream's controls_at)
    latencies: list = field(default_factory=list)
    delay: DelayInput | None = None        # a generative delay's input, N blocks behind
    route: str = "sketch"                  # how the delay's input steers it (see engine/delay.py)
    strength: float = 0.5                  # route "latent": noise level the input is started from
    faded: dict = field(default_factory=dict)   # name -> (value last used, crossfade in progress)
    active: bool = True                    # a stopped stream is not generated (its ring is paused)
    rewind: RewindPoint | None = None      # how to generate the last block again (engine/redo.py)
    in_total: int = 0                      # codec-rate samples decoded so far
    out_origin: int = 0                    # ideal output index of the current resampler's first sample
    out_total: int = 0                     # samples the current resampler has given
    primer: np.ndarray | None = None       # the last codec-rate audio, to prime a fresh resampler

    def set_controls(self, controls: BlockControls) -> None:
        """Takes effect at the next block boundary; the time is kept to measure control-to-sound latency."""
        self.controls = controls
        self.changed_at = time.perf_counter()


@dataclass
class Planned:
    """One stream's next block as the engine generates it."""
    stream: EngineStream
    controls: BlockControls                # the performer's units (the follower reads its loud_db)
    cond: Conditions                       # the model's, crossfaded


class Engine(MidBlockChanges):
    def __init__(self, bundle: ModelBundle, server_rate: int, *, steps: int | None = None,
                 guidance: float | None = None, lookahead_seconds: float | None = None,
                 crossfade_blocks: int = 1, threads: int | None = None, redo: bool = True,
                 warm: bool = True):
        self.bundle, self.server_rate = bundle, int(server_rate)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
        self.threads = threads or default_threads()
        # a stream plays at these unless it sets its own; by default the model's card says (model/sampling.py)
        played = bundle.sampling.changed(steps=steps, guidance=guidance)
        self.steps, self.guidance, self.sketch_guidance = played.steps, played.guidance, played.sketch_guidance
        self.lookahead_seconds = lookahead_seconds
        self.crossfade_blocks = crossfade_blocks
        self._pumped = 0.0
        self.streams: list[EngineStream] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self.compute_seconds: deque = deque(maxlen=2048)     # bounded: a set lasts hours
        self.audio_seconds = 0.0
        self.busy_seconds = 0.0
        self.errors = 0
        self.redo = redo                    # generate the playing block again when its conditions change
        self.redos = 0
        self.stall_seconds = 0.0            # injected by tests and the bench to rehearse lateness
        if warm:
            self.warm_up()

    def warm_up(self) -> None:
        """Generate, decode and resample one throwaway block.

        The first model call in a process pays for loading kernels and libraries from disk:
        on a fresh CI machine the test model's first block took 7.7 s; here, with the page
        cache dropped, 7.3 s against 6 ms for the next (docs/dev/engine.md). Paid here, before
        any stream exists, the first stream's sound starts within its lookahead.
        """
        model, codec = self.bundle.lmdm, self.bundle.codec
        cond = stack_conditions([Conditions()], model.cfg, model.cfg.block_frames)
        with torch.no_grad():
            z = generate_block(model, [model.new_cache(1)], cond, [0], steps=self.steps, guidance=self.guidance,
                               sketch_guidance=self.sketch_guidance)
            audio = FollowingDecoder.of(codec)(model.to_codec(z))
        soxr.ResampleStream(codec.cfg.sample_rate, self.server_rate, 1, dtype="float32").resample_chunk(audio)

    # ---- streams -------------------------------------------------------------------------------

    def add_stream(self, style: torch.Tensor | None = None, seed: int = 0, player=None,
                   **player_kwargs) -> EngineStream:
        """A new stream; `player` is what plays its ring (a pyo StreamPlayer made here by default,
        or the far end of a shared ring when the engine runs in a process of its own)."""
        model, codec = self.bundle.lmdm, self.bundle.codec
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
            raise ValueError(f"seed must be a whole number from 0 to {2 ** 31 - 1}, got {seed!r}")
        player = player if player is not None else StreamPlayer(**player_kwargs)
        if player.sample_rate != self.server_rate:
            raise ValueError(f"the server runs at {player.sample_rate} Hz, the engine was made for {self.server_rate}")
        stream = EngineStream(player=player, seed=seed, controls=BlockControls(style=style), cache=model.new_cache(1),
                              decoder=FollowingDecoder.of(codec),
                              resampler=soxr.ResampleStream(codec.cfg.sample_rate, self.server_rate, 1,
                                                            dtype="float32"),
                              primer=np.zeros(int(PRIMER_SECONDS * codec.cfg.sample_rate), dtype=np.float32))
        with self._lock:
            self.streams.append(stream)
        return stream

    def add_delay(self, capture, delay_blocks: int, route: str = "sketch", strength: float = 0.5, seed: int = 0,
                  style: torch.Tensor | None = None, **player_kwargs) -> EngineStream:
        """A generative delay: a stream that answers `capture`'s input `delay_blocks` blocks later."""
        check_delay(delay_blocks, route)        # before the stream exists: a refused delay leaves nothing
        stream = self.add_stream(style=style, seed=seed, **player_kwargs)
        stream.delay = DelayInput(capture, self.bundle.lmdm, self.bundle.codec, self.server_rate, delay_blocks)
        stream.route, stream.strength = route, float(strength)
        return stream

    def remove_stream(self, stream: EngineStream) -> None:
        with self._lock:
            self.streams = [s for s in self.streams if s is not stream]
        stream.player.close()

    # ---- one scheduling round -------------------------------------------------------------------

    def due(self) -> list[EngineStream]:
        target = int(self.lookahead_target() * self.server_rate)
        block = int(self.bundle.lmdm.cfg.block_seconds * self.server_rate) + 2048
        now = time.perf_counter()
        for s in self.streams:
            if s.in_total == 0 and s.active:
                self._start_in_time(s, target)
        waiting = any(s.delay is not None and not s.delay.ready(s.blocks) for s in self.streams)
        if waiting or now - self._pumped >= PUMP_SECONDS:    # otherwise input is collected every 20 ms
            self._pumped = now
            for s in self.streams:
                if s.delay is not None:
                    s.delay.pump()
        ready = [s for s in self.streams if s.active and s.player.ring.space() > block
                 and (s.delay is None or s.delay.ready(s.blocks))]
        playing = [s for s in ready if s.in_total > 0]
        if any(s.player.ring.lookahead() < target for s in playing):
            # Streams that would be due within the next block ride along: one model call for all,
            # instead of rounds back to back that each eat into the others' lookahead.
            soon = target + int(self.bundle.lmdm.cfg.block_seconds * self.server_rate)
            return [s for s in playing if s.player.ring.lookahead() < soon]
        # A stream's first block has a round of its own, once every playing stream can ride it
        # out: joined to their round, it made that round late (a gap heard on JACK). It starts
        # on the next block of its grid that is still ahead (_start_in_time).
        fresh = [s for s in ready if s.in_total == 0]
        recent = list(self.compute_seconds)[-32:]
        spare = target + int(1.5 * (statistics.median(recent) if recent else ADAPTIVE_START) * self.server_rate)
        if fresh and all(s.player.ring.lookahead() >= spare for s in self.streams if s.active and s.in_total > 0):
            return fresh
        return []

    def _start_in_time(self, s: EngineStream, target: int) -> None:
        """Block b of a stream sounds at ring position b x (a block's samples): its ring's grid,
        which its lanes were asked for and a delay's input was captured on. A stream whose
        ring has been playing silence (the engine was busy, loading, or the stream waited
        for its prompt) starts at the first block still ahead of the play head."""
        cfg, codec = self.bundle.lmdm.cfg, self.bundle.codec.cfg
        block = Fraction(cfg.block_frames * codec.hop * self.server_rate, codec.sample_rate)
        read = s.player.ring.read
        if s.blocks * block >= read:           # the planned start is still ahead (a late head is dropped)
            return
        s.blocks = s.first_block = math.ceil((read + target) / block)
        s.player.ring.start_at(int(s.blocks * block))

    def lookahead_target(self) -> float:
        """Seconds of audio to keep queued before generating the next block.

        Fixed when the engine was given `lookahead_seconds`; otherwise measured: a
        round's recent worst compute time with a margin, plus two server buffers. The
        later a block is generated, the more of the performer's last changes land in it
        (control-to-sound latency is about one block plus this lookahead).
        """
        if self.lookahead_seconds is not None:
            return self.lookahead_seconds
        recent = list(self.compute_seconds)[-32:]
        if len(recent) < 4:
            return ADAPTIVE_START
        # The worst recent round, not a percentile: rounds that generate several streams
        # at once are the slow ones, and each of them must still finish in time.
        worst = max(recent)
        buffers = 2 * self.streams[0].player.buffer_size / self.server_rate if self.streams else 0.01
        return min(ADAPTIVE_MAX, max(ADAPTIVE_MIN, 1.25 * worst + buffers + 0.01))

    def step(self) -> bool:
        """Generate one block for every stream that needs one, else generate again the playing
        block of streams whose conditions changed (see engine/redo.py); False when neither."""
        with self._lock:
            due = self.due()
            again = [] if due else self.redo_candidates()
        if not due and not again:
            return False
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
            self.stall_seconds = 0.0
        t0 = time.perf_counter()
        with torch.no_grad():
            if due:
                self._next_blocks(due)
            else:
                self._redo_blocks(again)
        spent = time.perf_counter() - t0
        self.compute_seconds.append(spent)
        if due:
            self.audio_seconds += self.bundle.lmdm.cfg.block_seconds * len(due)
        self.busy_seconds += spent
        return True

    def _generate(self, planned: list["Planned"]) -> dict[int, torch.Tensor]:
        """Latents of the next block of each planned stream, by index.

        One model call for every stream generated from noise; streams that start from
        their delay input's latents are grouped by how much noise they start from.
        Streams whose controls give their own step count or guidance are grouped the same way.
        """
        model = self.bundle.lmdm
        groups: dict = {}
        for i, p in enumerate(planned):
            s, c = p.stream, p.controls
            strength = s.strength if c.strength is None else c.strength
            start = round(strength, 4) if s.delay is not None and s.route == "latent" and strength < 1 else None
            steps = self.steps if c.steps is None else c.steps
            guidance = self.guidance if c.guidance is None else c.guidance
            groups.setdefault((start, steps, guidance), []).append(i)
        z: dict[int, torch.Tensor] = {}
        for (start, steps, guidance), members in groups.items():
            streams = [planned[i].stream for i in members]
            seeds = [planned[i].stream.seed if planned[i].controls.seed is None else planned[i].controls.seed
                     for i in members]
            cond = stack_conditions([planned[i].cond for i in members], model.cfg, model.cfg.block_frames)
            init = None if start is None else torch.cat([s.delay.for_output(s.blocks).latents for s in streams])
            out = generate_block(model, [s.cache for s in streams], cond, seeds,
                                 steps=steps, guidance=guidance, sketch_guidance=self.sketch_guidance, init=init,
                                 strength=1.0 if start is None else start)
            for j, i in enumerate(members):
                z[i] = out[j:j + 1]
        return z

    def _next_blocks(self, due: list[EngineStream]) -> None:
        model = self.bundle.lmdm
        # the crossfade state is taken before _plan moves it on: a redo starts from it
        snapshot = [(dict(s.faded), self._plan(s), s.changed_at) for s in due]
        z = self._generate([p for _, p, _ in snapshot])
        for i, (faded_before, p, changed) in enumerate(snapshot):
            s = p.stream
            state_before = s.decoder.state
            audio = s.decoder(model.to_codec(z[i]), p.controls.loud_db)
            out = s.resampler.resample_chunk(audio)
            at = s.player.ring.write(out)
            s.rewind = RewindPoint(block=s.blocks, cond=p.cond, ring_pos=at, ideal=s.out_origin + s.out_total,
                                   in_total=s.in_total, decoder_state=state_before, primer=s.primer,
                                   faded=faded_before)
            s.in_total += len(audio)
            s.out_total += len(out)
            s.primer = np.concatenate([s.primer, audio])[-len(s.primer):]
            s.blocks += 1
            if changed is not None and s.changed_at == changed:
                # First sample under the new conditions plays after what was already queued.
                ring = s.player.ring
                s.latencies.append(time.perf_counter() - changed + max(0, at - ring.read) / self.server_rate)
                s.changed_at = None

    def _plan(self, s: EngineStream) -> "Planned":
        """The stream's next block: its controls (a failing provider keeps the last good ones),
        with its delay input's lanes where it gives none, and the model's conditions for them,
        crossfaded from the last block's vectors."""
        if s.provider is not None:
            try:
                s.controls = s.provider(frame_times(s.blocks, self.bundle, self.server_rate))
            except Exception as e:          # a pattern that fails at play time must not stop the sound
                self.errors += 1
                print(f"lmdmlive stream: {type(e).__name__}: {e} (keeping the previous controls)", file=sys.stderr)
        controls = s.controls
        block = s.delay.for_output(s.blocks) if s.delay is not None else None
        if block is not None and s.route == "sketch" and not controls.lanes():
            controls = controls.with_lanes(block.lanes)     # the performer's own lanes win over the input's
        cond = to_conditions(controls, self.bundle.lmdm.cfg)
        if block is not None and s.route == "latent":
            cond = replace(cond, audio=block.latents, audio_mask=torch.ones(1, block.latents.shape[1]))
        return Planned(s, controls, self._crossfaded(s, cond))

    def _crossfaded(self, s: EngineStream, cond: Conditions) -> Conditions:
        """A changed prompt or arrangement reaches its new value along a glide over
        `crossfade_blocks` + 1 blocks, starting from what the last block used."""
        n = self.crossfade_blocks
        out = {}
        for name in ("style", "arrangement"):
            target = getattr(cond, name)
            used, fade = s.faded.get(name, (None, None))
            if fade is not None and (target is None or not torch.equal(fade[0].end, target)):
                fade = None                                     # the target moved: start again from here
            if fade is None and n >= 1 and used is not None and target is not None \
                    and used.shape == target.shape and not torch.equal(used, target):
                fade = (Glide(used, target, 0, n + 1), 0)
            if fade is not None:
                glide, k = fade[0], fade[1] + 1
                value = glide.at(k)
                fade = (glide, k) if k <= n else None
                if fade is not None:
                    out[name] = value
                s.faded[name] = (value, fade)
            else:
                s.faded[name] = (target, None)
        return replace(cond, **out) if out else cond

    # ---- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        sys.setswitchinterval(0.001)      # the audio thread needs the GIL back within a buffer
        self._threads_before = torch.get_num_threads()
        torch.set_num_threads(self.threads)   # process-wide while it plays; given back by stop()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="lmdmlive-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            torch.set_num_threads(self._threads_before)

    def _loop(self) -> None:
        while self._running:
            try:
                if not self.step():
                    time.sleep(0.003)
            except Exception as e:        # a failing block must not end the performance
                self.errors += 1
                print(f"lmdmlive engine: {type(e).__name__}: {e}", file=sys.stderr)
                time.sleep(0.05)

    # ---- metrics ------------------------------------------------------------------------------

    def metrics(self) -> dict:
        lat = [x for s in self.streams for x in s.latencies]
        return {
            "rtf": self.audio_seconds / self.busy_seconds if self.busy_seconds else float("nan"),
            "blocks": sum(s.blocks - s.first_block for s in self.streams),
            "block_ms_p50": 1000 * statistics.median(self.compute_seconds) if self.compute_seconds else float("nan"),
            "block_ms_max": 1000 * max(self.compute_seconds) if self.compute_seconds else float("nan"),
            "lookahead_target_ms": 1000 * self.lookahead_target(),
            "lookahead_ms": {i: 1000 * s.player.ring.lookahead() / self.server_rate for i, s in enumerate(self.streams)},
            "underruns": sum(s.player.underruns for s in self.streams),
            "latency_ms_p95": 1000 * float(np.percentile(lat, 95)) if lat else float("nan"),
            "errors": self.errors,
            "redos": self.redos,
        }
