"""MIDI clock out: drum machines, sequencers and DAWs follow the session's tempo and bars.

    >>> clock = session.midi_clock_out(virtual="lmdmlive clock")   # or a port: midi_clock_out("TR-8")
    >>> clock.start()                   # Start (or Song Position + Continue) at the next bar
    >>> clock.stop()                    # Stop, now; the ticks go on so followers keep the tempo

Twenty-four ticks per beat (0xF8), each sent when its place on the session clock is
computed (`session.wallclock`), moved by `session.nudge`. Each tick's time is asked of the
clock afresh, so a tempo change, MIDI clock followed in, or Ableton Link leading the clock
is followed at the next tick. A thread sleeps until each tick is due; when it wakes too
late (a busy machine) it sends the missed ticks at once, up to `CATCH_UP_TICKS`, so a
follower's count of ticks (its song position) stays right; after a longer stall, or a
jump of the clock, it goes on from the tick that is due.

`start()` at bar 0 sends Start; later it sends Song Position Pointer (in sixteenth notes,
wrapping every 1024 bars of 4/4) and Continue, so a follower starts where the session is.
Both go out just before the bar's first tick, which is the follower's first beat.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from fractions import Fraction

from .midi import MidiError

TICKS_PER_BEAT = 24
CATCH_UP_TICKS = 3
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2


class MidiClockOut:
    """Clock ticks and transport to a MIDI output (see the module's docstring)."""

    def __init__(self, session, port: str | int | None = None, virtual: str | None = None, api: str = "auto",
                 client: str = "lmdmlive"):
        self.session, self.wallclock = session, session.wallclock
        self._per_cycle = TICKS_PER_BEAT * session.clock.beats_per_cycle
        self._out = self._open(port, virtual, api, client)
        self.port_name = virtual if port is None else port
        self.ticks = 0                 # ticks sent
        self.late = 0                  # ticks sent more than a tick's length late
        self.running = False           # transport: between start() and stop()
        self._transport: tuple[int, list[list[int]]] | None = None   # (tick, messages) due before that tick
        self._lock = threading.Lock()
        self._alive = True
        self._thread = threading.Thread(target=self._loop, name="lmdmlive-midi-clock-out", daemon=True)
        self._thread.start()

    @staticmethod
    def _open(port, virtual, api, client):
        try:
            import rtmidi
        except ImportError as e:         # pragma: no cover - a dependency of the package
            raise MidiError(f"python-rtmidi is not importable ({e}); pip install python-rtmidi") from None
        apis = {"jack": rtmidi.API_UNIX_JACK, "alsa": rtmidi.API_LINUX_ALSA}
        if api == "auto":
            from ..audio.server import jack_running
            api = "jack" if jack_running() else "alsa"
        if api not in apis:
            raise MidiError(f"unknown MIDI API {api!r}; choose one of {sorted(apis) + ['auto']}")
        try:
            out = rtmidi.MidiOut(rtapi=apis[api], name=client)
        except Exception as e:           # rtmidi raises SystemError when no MIDI system answers
            raise MidiError(f"no MIDI system answers ({e}); start JACK or load ALSA's sequencer") from None
        if port is None:
            out.open_virtual_port(virtual or "lmdmlive clock")
            return out
        names = out.get_ports()
        if isinstance(port, int) and not isinstance(port, bool) and 0 <= port < len(names):
            out.open_port(port)
            return out
        matches = [i for i, n in enumerate(names) if isinstance(port, str) and port.lower() in n.lower()]
        if not matches:
            out.delete()
            raise MidiError(f"no MIDI output matches {port!r}; outputs are {names or 'none'}")
        out.open_port(matches[0])
        return out

    # ---- when each tick is due -------------------------------------------------------------------

    def tick_time(self, tick: int) -> float:
        """The monotonic time tick number `tick` (counted from cycle 0) is sent, nudge included."""
        sample = self.session.clock.sample_at(Fraction(tick, self._per_cycle))
        return self.wallclock.time_at(sample) + self.wallclock.nudge

    def _tick_now(self) -> int:
        """The number of the next tick on the clock, from the sample being computed now."""
        t = time.monotonic() - self.wallclock.nudge
        cycle = self.session.clock.cycle_at(int(self.wallclock.sample_at(t)))
        return math.ceil(cycle * self._per_cycle)

    def _loop(self) -> None:
        tick = self._tick_now()
        while self._alive:
            try:
                due = self.tick_time(tick)
                now = time.monotonic()
                interval = self.tick_time(tick + 1) - due
                if due - now > 0:
                    time.sleep(min(due - now, 0.05))      # wake at least every 50 ms: tempo and stop()
                    if time.monotonic() < due:
                        continue
                elif now - due > CATCH_UP_TICKS * interval:
                    tick = self._tick_now()                # a stall or a jump: go on from here
                    continue
                elif now - due > interval:
                    self.late += 1
                self._send_tick(tick)
                tick += 1
            except Exception as e:        # the clock must outlive a confused MIDI stack
                print(f"lmdmlive midi clock out: {type(e).__name__}: {e}", file=sys.stderr)
                time.sleep(0.1)

    def _send_tick(self, tick: int) -> None:
        with self._lock:
            transport = self._transport
            if transport is not None and transport[0] <= tick:
                self._transport = None
                for message in transport[1]:
                    self._out.send_message(message)
            self._out.send_message([CLOCK])
            self.ticks += 1

    # ---- transport -------------------------------------------------------------------------------

    def start(self, quant: str = "bar") -> int:
        """Start the followers at the next bar ("bar") or beat ("beat"); returns that bar's cycle."""
        if quant not in ("bar", "beat"):
            raise MidiError(f"a clock starts at the next 'bar' or 'beat', got {quant!r}")
        cycle = self.session.cycle_now()
        bpc = self.session.clock.beats_per_cycle
        at = Fraction(math.ceil(cycle)) if quant == "bar" else Fraction(math.ceil(cycle * bpc), bpc)
        tick = int(at * self._per_cycle)
        if tick == 0:
            messages = [[START]]
        else:
            sixteenths = (tick // (TICKS_PER_BEAT // 4)) % 16384
            messages = [[SONG_POSITION, sixteenths & 0x7F, sixteenths >> 7], [CONTINUE]]
        with self._lock:
            self._transport = (tick, messages)
        self.running = True
        return at

    def stop(self) -> None:
        """Stop the followers now; the ticks go on, so they keep the tempo."""
        with self._lock:
            self._transport = None
            self._out.send_message([STOP])
        self.running = False

    def close(self) -> None:
        """Stop the followers and let the port go (again: nothing)."""
        if self._out is None:
            return
        if self.running:
            self.stop()
        self._alive = False
        self._thread.join(timeout=1)
        with self._lock:
            self._out.close_port()
            self._out.delete()
            self._out = None

    def __repr__(self) -> str:
        return f"MidiClockOut({self.port_name!r}, {self.ticks} ticks, {'running' if self.running else 'stopped'})"
