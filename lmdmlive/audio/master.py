"""The master bus: everything that calls `.out()` meets here, then one gain and one limiter.

    >>> master = MasterBus().install()         # a Session does this when it starts
    >>> a = session.stream("warm dub chords")
    >>> verb = Freeverb(a, size=0.8).out()     # into the bus, not straight to the sound card
    >>> master.gain = -6                       # dB; the limiter keeps the sum at or under full scale
    >>> rec = Recorder(master.output, "set.wav").start()     # what the listener hears

While a bus is installed, `obj.out(chnl)` on any pyo object plays `obj` and adds it to
the bus on output `chnl` (left 0, right 1; a stereo object fills both), instead of
writing it straight to the server's output. The bus holds every object it plays, so
`Freeverb(a).out()` keeps sounding without a name. `obj.stop()` still silences it (pyo
zeroes a stopped object's output); `master.remove(obj)` takes it off the bus.

The chain: inputs -> mixer (x gain) -> a 5 ms look-ahead delay -> x the gain of a
stereo-linked peak limiter -> `Clip` at +-1 (the safety net) -> the server's output.

Patch reloads. A patch run between `begin_run()` and `end_run()` tags what it sends to
the bus; `end_run()` takes off what the previous run sent and this one did not (so a
saved patch does not pile up a new unnamed reverb per save), and `abort_run()` (a run
that raised) takes off only what the failed run added. What the REPL sends outside a
run stays until `remove`.
"""
from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass, field

import pyo

from .player import keep_alive
from .server import CallbackHub

_ORIGINAL_OUT = pyo.PyoObject.out
_installed: "MasterBus | None" = None

MAX_GAIN_DB = 24.0


def installed() -> "MasterBus | None":
    """The bus `.out()` feeds now, or None (pyo's own out)."""
    return _installed


def _routed_out(self, chnl=0, inc=1, dur=0, delay=0):
    """`PyoObject.out` while a bus is installed: play the object and add it to the bus."""
    bus = _installed
    if bus is None or id(self) in bus._own:
        return _ORIGINAL_OUT(self, chnl, inc, dur, delay)
    self.play(dur, delay)
    bus.add(self, chnl, inc)
    return self


@dataclass(eq=False)
class _Entry:
    obj: object
    chnl: object
    inc: int
    keys: list = field(default_factory=list)
    run: int | None = None            # the last patch run that sent it; None: the REPL's, kept
    born: int | None = None           # the run that first sent it
    remove_at: int | None = None      # sample at which its fade-out is over and it leaves the mixer


class _Clock:
    """Counts the samples the server has played (a per-buffer hook)."""

    __slots__ = ("samples", "step")

    def __init__(self, step: int):
        self.samples, self.step = 0, step

    def __call__(self) -> None:
        self.samples += self.step


class MasterBus:
    """One stereo bus (mono on a one-channel server) with a gain in dB and a limiter.

    `gain` (dB, default 0; -inf mutes) ramps over 50 ms. `ceiling` (dB, default -1)
    is where the limiter holds the peaks; the clip after it never lets a sample past
    +-1.0. `output` is the limited signal, the one the recorder taps.
    """

    def __init__(self, gain: float = 0.0, ceiling: float = -1.0, lookahead_ms: float = 5.0,
                 release: float = 0.15, fade: float = 0.025):
        server = pyo.Sig(0).getServer()
        self.sample_rate = int(server.getSamplingRate())
        buffer = int(server.getBufferSize())
        self.channels = max(1, min(2, int(server.getNchnls())))
        self.fade = float(fade)
        self._lock = threading.RLock()
        self._entries: dict[int, _Entry] = {}
        self._keys = itertools.count()
        self._run = 0
        self._in_run = False
        self._gain_db = _check_gain(gain)
        self._gain = pyo.SigTo(_amp(self._gain_db), time=0.05)
        # one mixer per output channel; every input is in each, at amplitude 1 where it plays
        self._mixers = [pyo.Mixer(outs=1, chnls=1, time=self.fade, mul=self._gain) for _ in range(self.channels)]
        self._sum = pyo.Mix(self._mixers, voices=self.channels)
        m = [mixer[0] for mixer in self._mixers]     # a Mixer's streams, as pyo's effects take them
        level = pyo.Abs(m[0]) if self.channels == 1 else pyo.Max(pyo.Abs(m[0]), pyo.Abs(m[1]))
        # outputAmp: the limiter's gain alone, so both channels share one gain (the image holds
        # still under limiting); the signal is delayed by the look-ahead so the gain is down
        # before the peak arrives.
        self._amp = pyo.Compress(level, thresh=float(ceiling), ratio=100, risetime=0.0005, falltime=float(release),
                                 lookahead=float(lookahead_ms), knee=0, outputAmp=True)
        la = float(lookahead_ms) / 1000.0
        self._delayed = pyo.SDelay(self._sum, delay=la, maxdelay=2 * la + buffer / self.sample_rate, mul=self._amp)
        self.output = pyo.Clip(self._delayed, min=-1.0, max=1.0)
        self._meter = pyo.PeakAmp(self.output)        # each buffer's peak, for the status bar
        self._chain = (self._gain, *self._mixers, self._sum, level, self._amp, self._delayed, self.output,
                       self._meter)
        self._own = set()            # the bus's own objects: their out() is pyo's
        self._clock = _Clock(buffer)
        self._hub = CallbackHub.of(server)
        self._hub.add(self._clock)
        self.ceiling = float(ceiling)

    # ---- installing --------------------------------------------------------------------------

    def install(self) -> "MasterBus":
        """Route every `.out()` to this bus (replacing a bus installed before) and start its output."""
        global _installed
        with self._lock:
            if _installed is not None and _installed is not self:
                _installed.uninstall()
            self._own = {id(self.output)}
            _ORIGINAL_OUT(self.output)
            pyo.PyoObject.out = _routed_out
            _installed = self
        return self

    def uninstall(self) -> None:
        """Back to pyo's own `out`: what the bus plays goes straight to the server's output."""
        global _installed
        with self._lock:
            if _installed is self:
                pyo.PyoObject.out = _ORIGINAL_OUT
                _installed = None
            entries = [e for e in self._entries.values() if e.remove_at is None]
            for mixer in self._mixers:
                mixer.clear()
            self._entries = {}
            for obj in self._chain:
                obj.stop()
            keep_alive(*self._chain)       # a stopped chain costs nothing; freed, it could crash pyo
            self._hub.remove(self._clock)
        for e in entries:
            _ORIGINAL_OUT(e.obj, e.chnl, e.inc)

    # ---- what plays --------------------------------------------------------------------------

    def add(self, obj, chnl=0, inc: int = 1) -> None:
        """Put `obj` on the bus from output `chnl` (what `obj.out(chnl, inc)` does while installed).
        Sending an object again moves it to the new channels; it is never mixed in twice."""
        streams = obj.getBaseObjects()
        with self._lock:
            self.collect()
            entry = self._entries.get(id(obj))
            if entry is None:
                entry = _Entry(obj, chnl, inc, born=self._run if self._in_run else None)
                for stream in streams:
                    key = next(self._keys)
                    for mixer in self._mixers:
                        mixer.addInput(key, [stream])
                    entry.keys.append(key)
                self._entries[id(obj)] = entry
            entry.chnl, entry.inc, entry.remove_at = chnl, inc, None
            if self._in_run:
                entry.run = self._run
            elif entry.born is not None:
                entry.run = entry.born = None           # sent again from the REPL: the REPL's now
            for i, key in enumerate(entry.keys):
                dest = self._channel(chnl, inc, i)
                for c, mixer in enumerate(self._mixers):
                    mixer.setAmp(key, 0, 1.0 if c == dest else 0.0)

    def remove(self, obj) -> bool:
        """Take `obj` off the bus (a short fade, then the bus lets go of it). False if it was not on."""
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is None or entry.remove_at is not None:
                return False
            self._release(entry)
            return True

    def playing(self) -> list:
        """The objects on the bus now."""
        with self._lock:
            return [e.obj for e in self._entries.values() if e.remove_at is None]

    def __contains__(self, obj) -> bool:
        e = self._entries.get(id(obj))
        return e is not None and e.remove_at is None

    # ---- patch runs --------------------------------------------------------------------------

    def begin_run(self) -> None:
        """A patch run starts: what it sends to the bus is tagged with it."""
        with self._lock:
            self.collect()
            self._run += 1
            self._in_run = True

    def end_run(self) -> int:
        """The run succeeded: take off what earlier runs sent and this one did not. Returns how many."""
        with self._lock:
            gone = [e for e in self._entries.values()
                    if e.remove_at is None and e.run is not None and e.run < self._run]
            for e in gone:
                self._release(e)
            self._in_run = False
            return len(gone)

    def abort_run(self) -> int:
        """The run raised: take off only what it added, keep what the last good run plays. Returns how many."""
        with self._lock:
            gone = [e for e in self._entries.values() if e.remove_at is None and e.born == self._run]
            for e in gone:
                self._release(e)
            for e in self._entries.values():
                if e.run == self._run and e.born != self._run:
                    e.run = self._run - 1          # still the last good run's
            self._in_run = False
            return len(gone)

    # ---- gain and meters ---------------------------------------------------------------------

    @property
    def gain(self) -> float:
        """The master gain in dB (0: unity; -inf: muted); ramps over 50 ms."""
        return self._gain_db

    @gain.setter
    def gain(self, db) -> None:
        self._gain_db = _check_gain(db)
        self._gain.value = _amp(self._gain_db)

    @property
    def peak_db(self) -> float:
        """The peak of the last buffer heard, in dB (-inf for silence)."""
        values = self._meter.get(all=True)
        peak = max(values) if isinstance(values, list) else values
        return 20 * math.log10(peak) if peak > 0 else float("-inf")

    @property
    def reduction(self) -> float:
        """How far the limiter pulls the level down now, in dB (0 when it is idle)."""
        a = float(self._amp.get())
        return 0.0 if a >= 1.0 else (-200.0 if a <= 1e-10 else 20 * math.log10(a))

    # ---- inside ------------------------------------------------------------------------------

    def _channel(self, chnl, inc: int, i: int) -> int:
        if isinstance(chnl, (list, tuple)):
            return int(chnl[i % len(chnl)]) % self.channels
        if chnl < 0:
            chnl = 0
        return (int(chnl) + i * int(inc)) % self.channels

    def _release(self, entry: _Entry) -> None:
        for key in entry.keys:
            for mixer in self._mixers:
                mixer.setAmp(key, 0, 0.0)
        # the mixer's amplitude glides to 0 over `fade`; a buffer more and it can go
        entry.remove_at = self._clock.samples + int(self.fade * self.sample_rate) + 2 * self._clock.step

    def collect(self) -> None:
        """Let go of what was taken off and has faded out (every add and run does this too)."""
        now = self._clock.samples
        for k, e in list(self._entries.items()):
            if e.remove_at is not None and now >= e.remove_at:
                for key in e.keys:
                    for mixer in self._mixers:
                        mixer.delInput(key)
                del self._entries[k]

    def __repr__(self) -> str:
        return (f"MasterBus({len(self.playing())} playing, gain {self._gain_db:+.1f} dB, "
                f"limiter {self.reduction:.1f} dB)")


def _amp(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def _check_gain(db) -> float:
    try:
        db = float(db)
    except (TypeError, ValueError):
        raise ValueError(f"master gain is in dB, a number such as -6; got {db!r}") from None
    if math.isnan(db) or db > MAX_GAIN_DB:
        raise ValueError(f"master gain {db} dB is outside -inf to +{MAX_GAIN_DB:g} dB")
    return db
