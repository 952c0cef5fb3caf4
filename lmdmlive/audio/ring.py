"""The hand-over between the generating thread and the audio callback: a ring of samples.

The worker writes ahead of the play head; the audio callback pulls exactly one
buffer per call and never waits. Positions are absolute sample counts, so "how far
ahead" and "how late" are plain subtractions. The play head is locked to the audio
clock: when the worker is late, the missing samples are replaced by a short fade to
silence (never a click), counted as an underrun, and the late audio, once it comes,
is joined with a fade-in at the play head.
"""
from __future__ import annotations

import threading

import numpy as np


class AudioRing:
    def __init__(self, capacity: int, fade: int = 240):
        if capacity < 4 * fade:
            raise ValueError(f"a ring of {capacity} samples is too small for {fade}-sample fades")
        self.data = np.zeros(capacity, dtype=np.float32)
        self.capacity, self.fade = capacity, fade
        self.written = 0          # absolute samples written by the worker
        self.read = 0             # absolute samples consumed by the audio callback
        self.started = False      # nothing is an underrun before the first samples arrive
        self.starved = False
        self.underruns = 0
        self.starved_samples = 0
        self._last = 0.0          # the last sample played, for fading out of it
        self.paused = False       # a stopped stream: silence, the play head waits, nothing is late
        self._lock = threading.Lock()   # writers only; the callback never takes it

    # ---- worker side -------------------------------------------------------------------------

    def lookahead(self) -> int:
        """Samples written and not yet played (negative when the worker is behind the play head)."""
        return self.written - self.read

    def space(self) -> int:
        return self.capacity - max(0, self.lookahead())

    def write(self, samples: np.ndarray) -> int:
        """Append after what was written; returns the absolute position of the first sample."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            if self.written < self.read:          # late audio for a time already played: skip it
                self.written = self.read
            n = len(samples)
            if n > self.space():
                raise OverflowError(f"ring full: {n} samples do not fit in {self.space()} free")
            at = self.written
            self._put(at, samples)
            self.written += n                     # published last: the callback sees whole writes
            return at

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
