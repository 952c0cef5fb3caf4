"""Ableton Link: the session's clock follows a Link session's tempo and bar, and leads it too.

    >>> link = session.link()             # pip install 'lmdmlive[link]'
    >>> link.peers                        # other Link apps on the network
    >>> session.clock.set_bpm(128, session.now())    # at the next bar, for every peer

Link is a shared timeline: every peer agrees on a tempo and on where beats fall, with a
*quantum* (here: the beats of one cycle) that fixes where bars fall. A thread here looks
at it every 10 ms and

- takes a tempo change made by a peer (the clock changes tempo at once, keeping its phase);
- hands a tempo change made here (`session.clock.set_bpm`, MIDI clock, OSC `/lmdm/bpm`) to the
  peers when it takes effect;
- keeps bars on the Link bar: the clock's beat at the sample computed at wall time t is
  Link's beat at t - `session.nudge`. When the two differ by more than `PHASE_TOLERANCE`
  seconds, the clock jumps to Link's phase (`Clock.align`); a jump of a millisecond or two
  is not heard, and a drifting sound card needs one every minute or so.

Alone in a Link session, the session's own phase is handed to Link instead, so joining
moves nothing here. The binding is LinkPython-extern (see docs/link.md for why).
"""
from __future__ import annotations

import sys
import threading
import time
from fractions import Fraction

PERIOD_SECONDS = 0.01
PHASE_TOLERANCE = 0.001       # seconds: a larger difference from Link's phase is corrected
TEMPO_TOLERANCE = 0.01        # BPM: Link hands back a set tempo a few millionths off


class LinkError(RuntimeError):
    pass


def _binding():
    try:
        import link
    except ImportError:
        raise LinkError("Ableton Link needs the optional binding: pip install 'lmdmlive[link]' "
                        "(LinkPython-extern)") from None
    if not hasattr(link, "Link"):
        raise LinkError(f"the module 'link' at {getattr(link, '__file__', '?')} is not LinkPython-extern; "
                        "pip install 'lmdmlive[link]'")
    return link


class LinkSync:
    """The session's clock joined to a Link session (see the module's docstring)."""

    def __init__(self, session, quantum: int | None = None):
        module = _binding()
        bpc = session.clock.beats_per_cycle
        if quantum is not None and quantum != bpc:
            from .timebase import SyncError
            raise SyncError(f"the Link quantum is the beats of one bar, {bpc} here; got {quantum!r}")
        self.session, self.quantum = session, bpc
        self.wallclock = session.wallclock
        self._link = module.Link(session.bpm)
        self._link.enabled = True
        self._applied = session.clock.bpm_at(session.now())   # the tempo both sides last agreed on
        self._alone = True
        self.jumps = 0                 # phase corrections made (each one a segment of the clock)
        self.errors = 0
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="lmdmlive-link", daemon=True)
        self._thread.start()

    @property
    def peers(self) -> int:
        return self._link.numPeers()

    @property
    def tempo(self) -> float:
        """The Link session's tempo."""
        return self._link.captureAppSessionState().tempo()

    def beat_at(self, t: float) -> float:
        """Link's beat at monotonic time `t` (its phase in the quantum is what peers share)."""
        state = self._link.captureAppSessionState()
        return state.beatAtTime(self._micros(t), self.quantum)

    def _micros(self, t: float) -> int:
        # Link's clock is its own (CLOCK_MONOTONIC_RAW on Linux): read both clocks together
        now_link, now = self._link.clock().micros(), time.monotonic()
        return int(now_link + (t - now) * 1e6)

    def _loop(self) -> None:
        while self._running:
            try:
                self.sync()
            except Exception as e:        # a confused binding must not end the set
                self.errors += 1
                if self.errors <= 3:
                    print(f"lmdmlive link: {type(e).__name__}: {e}", file=sys.stderr)
            time.sleep(PERIOD_SECONDS)

    def sync(self) -> None:
        """One look at Link: tempo either way, then the phase."""
        clock, wall = self.session.clock, self.wallclock
        sample = self.session.now()                  # the next buffer to be computed starts here
        t = wall.time_at(sample)
        state = self._link.captureAppSessionState()
        ours = clock.cycle_at(sample) * self.quantum
        here = clock.bpm_at(sample)
        alone = self._link.numPeers() == 0
        if alone:
            # nobody to follow: Link takes our tempo and phase, so joining moves nothing here
            micros = self._micros(t - wall.nudge)
            if self._alone is False or abs(state.tempo() - here) > TEMPO_TOLERANCE or \
                    abs(_wrap(state.beatAtTime(micros, self.quantum) - float(ours), self.quantum)) * 60 / here \
                    > PHASE_TOLERANCE:
                state.setTempo(here, micros)
                state.requestBeatAtTime(float(ours), micros, self.quantum)
                self._link.commitAppSessionState(state)
            self._alone, self._applied = True, here
            return
        self._alone = False
        if abs(here - self._applied) > TEMPO_TOLERANCE:
            # a change made here has taken effect: the peers get it
            state.setTempo(here, self._micros(t))
            self._link.commitAppSessionState(state)
            self._applied = here
            return
        tempo = round(state.tempo(), 4)
        target = state.beatAtTime(self._micros(t - wall.nudge), self.quantum)
        error = _wrap(target - float(ours), self.quantum)             # beats
        if abs(tempo - here) > TEMPO_TOLERANCE or abs(error) * 60 / here > PHASE_TOLERANCE:
            cycle = clock.cycle_at(sample) + Fraction(error / self.quantum).limit_denominator(10 ** 7)
            clock.align(sample, cycle, tempo)
            self._applied = clock.bpm_at(sample)
            self.jumps += 1

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=1)
        self._link.enabled = False

    def __repr__(self) -> str:
        return f"LinkSync({self.peers} peer(s), {self.tempo:.2f} BPM, quantum {self.quantum})"


def _wrap(beats: float, quantum: int) -> float:
    """A phase difference in beats, folded into [-quantum/2, quantum/2)."""
    return (beats + quantum / 2) % quantum - quantum / 2
