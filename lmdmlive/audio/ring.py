"""The hand-over between the generating thread and the audio callback: a ring of samples.

The worker writes ahead of the play head; the audio callback pulls exactly one
buffer per call and never waits. Positions are absolute sample counts, so "how far
ahead" and "how late" are plain subtractions. The play head is locked to the audio
clock: when the worker is late, the missing samples are replaced by a short fade to
silence (never a click), counted as an underrun, and the late audio, once it comes,
is joined with a fade-in at the play head.

A ring can live in shared memory (`AudioRing.shared`, then `AudioRing.attach` in
another process): the generating process writes, the audio process pulls, and the
positions both sides read are in the shared block, so the audio process never runs
the model's Python and never waits for it (engine/process.py).
"""
from __future__ import annotations

import threading
from multiprocessing import shared_memory

import numpy as np

# slots of the shared state: positions and counters both processes read
_WRITTEN, _READ, _UNDERRUNS, _STARVED_SAMPLES, _PAUSED, _WAITING = range(6)
_STATE_SLOTS = 8


class AudioRing:
    def __init__(self, capacity: int, fade: int = 240, _memory: shared_memory.SharedMemory | None = None):
        if capacity < 4 * fade:
            raise ValueError(f"a ring of {capacity} samples is too small for {fade}-sample fades")
        self.capacity, self.fade = capacity, fade
        self.memory = _memory
        if _memory is None:
            self._state = np.zeros(_STATE_SLOTS, dtype=np.int64)
            self.data = np.zeros(capacity, dtype=np.float32)
        else:
            self._state = np.ndarray((_STATE_SLOTS,), dtype=np.int64, buffer=_memory.buf)
            self.data = np.ndarray((capacity,), dtype=np.float32, buffer=_memory.buf, offset=8 * _STATE_SLOTS)
        self.started = False      # nothing is an underrun before the first samples arrive
        self.starved = False
        self._last = 0.0          # the last sample played, for fading out of it
        self._lock = threading.Lock()   # writers only; the callback never takes it
        self._wrote = False             # the writer's own: whether audio was written (start_at moves until then)

    @classmethod
    def shared(cls, capacity: int, fade: int = 240) -> "AudioRing":
        """A ring in a new block of shared memory; `memory.name` lets another process attach."""
        memory = shared_memory.SharedMemory(create=True, size=8 * _STATE_SLOTS + 4 * capacity)
        ring = cls(capacity, fade, memory)
        ring._state[:] = 0
        return ring

    @classmethod
    def attach(cls, name: str, capacity: int, fade: int = 240) -> "AudioRing":
        """The ring another process made with `shared`, by its memory's name."""
        memory = shared_memory.SharedMemory(name=name)
        # Python's resource tracker would unlink the block when this (attaching) process
        # exits, under the feet of its maker; the maker alone owns it.
        from multiprocessing import resource_tracker
        resource_tracker.unregister(memory._name, "shared_memory")
        return cls(capacity, fade, memory)

    def release(self, unlink: bool = False) -> None:
        """Let go of the shared memory (the maker unlinks it once both sides are done)."""
        if self.memory is None:
            return
        self._state = self._state.copy()
        self.data = self.data.copy()
        memory, self.memory = self.memory, None
        memory.close()
        if unlink:
            try:
                memory.unlink()
            except FileNotFoundError:
                pass

    # absolute samples written by the worker, and consumed by the audio callback
    written = property(lambda self: int(self._state[_WRITTEN]),
                       lambda self, v: self._state.__setitem__(_WRITTEN, v))
    read = property(lambda self: int(self._state[_READ]), lambda self, v: self._state.__setitem__(_READ, v))
    underruns = property(lambda self: int(self._state[_UNDERRUNS]),
                         lambda self, v: self._state.__setitem__(_UNDERRUNS, v))
    starved_samples = property(lambda self: int(self._state[_STARVED_SAMPLES]),
                               lambda self, v: self._state.__setitem__(_STARVED_SAMPLES, v))
    # a stopped stream: silence, the play head waits, nothing is late (and nothing is generated)
    paused = property(lambda self: bool(self._state[_PAUSED]),
                      lambda self, v: self._state.__setitem__(_PAUSED, 1 if v else 0))
    # a stream held by its player's side until its first prompt is embedded (engine/process.py)
    waiting = property(lambda self: bool(self._state[_WAITING]),
                       lambda self, v: self._state.__setitem__(_WAITING, 1 if v else 0))

    # ---- worker side -------------------------------------------------------------------------

    def lookahead(self) -> int:
        """Samples written and not yet played (negative when the worker is behind the play head)."""
        return self.written - self.read

    def space(self) -> int:
        return self.capacity - max(0, self.lookahead())

    def write(self, samples: np.ndarray) -> int:
        """Append after what was written; returns the absolute position of the first sample.

        Audio keeps its time: what arrives late, for a moment already played, is dropped
        and the rest plays when it was meant to, so a stream stays on its clock's grid
        (its lanes, its bar lines, a delay's distance to its input) through any lateness.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            at, n = self.written, len(samples)
            late = min(n, max(0, self.read - at))
            if n - late > self.space():
                raise OverflowError(f"ring full: {n - late} samples do not fit in {self.space()} free")
            if late < n:
                self._put(at + late, samples[late:])
            self._wrote = True
            self.written = at + n                 # published last: the callback sees whole writes
            return at

    def start_at(self, position: int) -> None:
        """Let a ring that was never written begin at absolute `position` (silence until then):
        a stream that starts after its ring was made starts on its grid, not at once."""
        with self._lock:
            if self._wrote or position <= self.written:
                return
            if position - self.read > self.capacity:
                raise ValueError(f"cannot start {position - self.read} samples ahead in a ring of {self.capacity}")
            self.written = position

    def splice(self, position: int, samples: np.ndarray, fade: int, guard: int) -> bool:
        """Replace what is queued from absolute `position` on with `samples`, crossfading
        over `fade` samples from the old audio into the new; the ring then ends where
        `samples` end. Refused (False, nothing changed) unless `position` is at least
        `guard` samples ahead of the play head and not past the queued audio: the
        callback reads without a lock, so the region it may be reading is never touched.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            if position < self.read + guard or position > self.written:
                return False
            end = position + len(samples)
            if end - self.read > self.capacity:
                return False
            overlap = min(fade, self.written - position, len(samples))
            if overlap > 0:
                old = np.empty(overlap, dtype=np.float32)
                self._copy(old, position, overlap)
                ramp = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
                samples = samples.copy()
                samples[:overlap] = old * (1 - ramp) + samples[:overlap] * ramp
            self._put(position, samples)
            self.written = end
            return True

    def _put(self, position: int, samples: np.ndarray) -> None:
        n = len(samples)
        start = position % self.capacity
        first = min(n, self.capacity - start)
        self.data[start:start + first] = samples[:first]
        if first < n:
            self.data[:n - first] = samples[first:]

    # ---- audio-callback side --------------------------------------------------------------------

    def pull(self, out: np.ndarray) -> None:
        """Fill `out` with the next len(out) samples; never blocks, never raises."""
        n = len(out)
        if self.paused:
            out[:] = 0.0
            self._last = 0.0
            return
        available = self.written - self.read
        if available >= n:
            self._copy(out, self.read, n)
            if self.starved:                      # coming back: fade in at the play head
                ramp = min(self.fade, n)
                out[:ramp] *= np.linspace(0.0, 1.0, ramp, dtype=np.float32)
                self.starved = False
            self.started = True
        else:
            got = max(0, available)
            if got:
                self._copy(out[:got], self.read, got)
            if not self.started and got == 0:
                out[:] = 0.0
            else:
                if not self.starved:
                    self.underruns += 1
                    self.starved = True
                    last = out[got - 1] if got else self._last
                    ramp = min(self.fade, n - got)
                    out[got:got + ramp] = last * np.linspace(1.0, 0.0, ramp, dtype=np.float32)
                    out[got + ramp:] = 0.0
                else:
                    out[got:] = 0.0
                self.starved_samples += n - got
        self._last = float(out[-1])
        self.read += n

    def _copy(self, out: np.ndarray, position: int, n: int) -> None:
        start = position % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self.data[start:start + first]
        if first < n:
            out[first:n] = self.data[:n - first]
