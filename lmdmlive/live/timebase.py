"""When the session's samples play, in wall time: what OSC timetags, Ableton Link and MIDI
clock out are placed against, and the two offsets a performer sets on them.

    >>> session.nudge = -0.012          # every sync output 12 ms earlier (a late sound card)
    >>> session.latency = 0.1           # OSC events placed 100 ms after their timetag

The clock speaks samples (the server's count, `session.now()`); the outside world speaks
seconds of a system clock. The link between them is learned where both are visible: at
the start of every audio buffer a hook notes `time.monotonic()` against the first sample
of the buffer being computed. A callback can come late (it waited for a core or for the
interpreter's lock) but never early, so the earliest note of the last two seconds is the
true relation; taking the minimum, not the mean, keeps one late buffer from moving it.
The window is short enough to follow the small drift between a sound card's crystal and
the system clock.

`time.monotonic()` is CLOCK_MONOTONIC on Linux, the same clock in every process on the
machine, so a peer in another process can be compared with it directly.
"""
from __future__ import annotations

import math
import time
from collections import deque

WINDOW_SECONDS = 2.0
MAX_NUDGE = 1.0          # seconds either way: more is a different tempo, not an offset
MAX_LATENCY = 2.0


class SyncError(ValueError):
    """A sync setting (nudge, latency, port, quantum) that cannot be used; one line says why."""


def check_seconds(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SyncError(f"{name} is a number of seconds, got {value!r}")
    if not lo <= value <= hi:
        raise SyncError(f"{name} {value!r} is outside {lo:g}..{hi:g} seconds")
    return float(value)


class WallClock:
    """Sample <-> `time.monotonic()` seconds for a session, with `nudge` and `latency`."""

    def __init__(self, session):
        from ..audio.server import CallbackHub
        self._session = session
        self.sample_rate = int(session.sample_rate)
        self._step = int(session.server.getBufferSize())
        buffers = max(8, int(WINDOW_SECONDS * self.sample_rate / self._step))
        self._origins: deque[float] = deque(maxlen=buffers)   # appended by the audio thread only
        self._fallback = time.monotonic() - session.now() / self.sample_rate
        self._nudge = 0.0
        self._latency = 0.0
        self._hub = CallbackHub.of(_c_server())
        self._hub.add(self._mark)

    def _mark(self) -> None:
        # Registered after the session's sample counter, which has already counted this buffer.
        first = self._session.now() - self._step
        self._origins.append(time.monotonic() - first / self.sample_rate)

    @property
    def origin(self) -> float:
        """The monotonic time of sample 0 (the earliest estimate of the last two seconds)."""
        marks = list(self._origins)
        return min(marks) if marks else self._fallback

    def time_at(self, sample) -> float:
        """When `sample` is computed, in `time.monotonic()` seconds."""
        return self.origin + float(sample) / self.sample_rate

    def sample_at(self, t: float) -> float:
        """The sample computed at monotonic time `t` (fractional)."""
        return (t - self.origin) * self.sample_rate

    @property
    def nudge(self) -> float:
        return self._nudge

    @nudge.setter
    def nudge(self, seconds) -> None:
        self._nudge = check_seconds("nudge", seconds, -MAX_NUDGE, MAX_NUDGE)

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds) -> None:
        self._latency = check_seconds("latency", seconds, 0.0, MAX_LATENCY)

    def close(self) -> None:
        self._hub.remove(self._mark)


def epoch_to_monotonic(t: float) -> float:
    """An OSC timetag (seconds since 1970, as python-osc gives it) on the monotonic clock."""
    return t - (time.time() - time.monotonic())


def _c_server():
    """pyo's C-level server, the key of its CallbackHub (what PyoObject.getServer returns)."""
    import pyo
    return pyo.Sig(0).getServer()
