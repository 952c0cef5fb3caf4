"""OSC in: other programs set what the REPL sets, and TidalCycles or Strudel play streams.

    >>> osc = session.osc(57120)          # or: lmdmlive PATCH.py --osc 57120
    >>> a = stream("analog synth lead", name="lead").out()

Then, from any OSC client:

    /lmdm/lead/cfg 4.5                    a Param (a number, or mini-notation text)
    /lmdm/lead/pitch "c4 [e4 g4]"         a lane (mini-notation text or a number)
    /lmdm/lead/prompt "dark techno"       the prompt
    /lmdm/lead/drums 0.8                  an arrangement knob
    /lmdm/lead/morph "glassy pads" 8      a method: morph, play_at, stop_at ("bar")
    /lmdm/bpm 126                         the tempo, from the next bar

Each goes through the same checks as typing it at the REPL; a mistake is answered to its
sender as `/lmdm/error "<address>: <one line>"` (and printed), and the music plays on.

SuperDirt's `/dirt/play` (what TidalCycles and Strudel send, key/value arguments in a
bundle stamped with when the event should sound): `s` names the stream; `note` or `n`
(semitones from middle C, as SuperDirt reads them; `midinote`, `octave` too) writes its
pitch lane, `gain` (SuperDirt's amplitude curve, gain⁴) its loudness, `cutoff` (Hz) its
brightness. An event lasts `sustain` seconds, else `delta` (x `legato`), else until the
next one; it is placed at its timetag plus `session.latency` plus `session.nudge`, turned
into a clock position through `session.wallclock`. Fields the model has no use for
(`orbit`, `cps`, `room`, ...) are ignored.

python-osc parses the packets; the socket is read here, in a thread of our own, because
python-osc's dispatcher sleeps until a bundle's timetag, and an event must reach its lane
before it sounds, not when.
"""
from __future__ import annotations

import math
import socket
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from fractions import Fraction

from ..engine.controls import ARRANGEMENT_RANGES
from ..pattern import Pattern, Span
from ..pattern.core import Hap
from ..pattern.notes import note
from .lanes import RANGES, lane_pattern
from .timebase import epoch_to_monotonic

DEFAULT_PORT = 57120          # SuperDirt's, where TidalCycles and Strudel send by default
GAIN_REFERENCE_DB = -14.0     # the loudness of gain 1: a mixed track's level, in the loud lane's dB
METHODS = ("morph", "play_at", "stop_at")     # what a sender may call, with its arguments
MAX_EVENTS = 512              # per lane; older events are dropped
HOLD_CYCLES = 10 ** 6         # an event with no length holds until the next one


class OscError(ValueError):
    pass


class OscIn:
    """A UDP port that reads OSC packets and sets the session's named streams."""

    def __init__(self, session, port: int = DEFAULT_PORT, host: str = "127.0.0.1"):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise OscError(f"an OSC port is a whole number from 0 to 65535, got {port!r}")
        self.session = session
        self.wallclock = session.wallclock
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as e:
            self._sock.close()
            raise OscError(f"cannot listen for OSC on {host}:{port} ({e.strerror}): another program "
                           f"(SuperCollider, another lmdmlive) may have it; choose another, e.g. "
                           f"session.osc({port + 1 if port else DEFAULT_PORT + 1})") from None
        self._sock.settimeout(0.2)
        self.host, self.port = host, self._sock.getsockname()[1]
        self.messages = 0
        self.errors = 0
        self._lanes: dict[tuple[str, str], EventLane] = {}
        self._last_printed = ""
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"lmdmlive-osc-{self.port}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            try:
                data, sender = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:            # closed
                break
            self.handle(data, sender)

    def handle(self, data: bytes, sender=None) -> None:
        """One UDP packet: a message or a bundle (whose messages carry its timetag)."""
        from pythonosc.osc_bundle import OscBundle
        from pythonosc.osc_packet import OscPacket, ParseError
        try:
            packet = OscPacket(data)
        except ParseError as e:
            self._error(sender, "?", OscError(f"not an OSC packet ({e})"))
            return
        timed = OscBundle.dgram_is_bundle(data)
        for item in packet.messages:
            self.messages += 1
            at = epoch_to_monotonic(item.time) if timed else None
            try:
                self.dispatch(item.message.address, list(item.message.params), at)
            except Exception as e:     # anything a sender sends: one line back, the set plays on
                self._error(sender, item.message.address, e)

    def dispatch(self, address: str, args: list, at: float | None = None) -> None:
        """`at`: when a bundled message should sound (monotonic seconds); None for now."""
        parts = address.strip("/").split("/")
        if parts[0] == "dirt":
            if parts[1:] == ["play"]:
                self.dirt_play(args, at)
            return                     # SuperDirt's handshake and the like: nothing to answer
        if parts[0] != "lmdm":
            raise OscError("unknown address; lmdmlive reads /lmdm/<stream>/<attribute> and /dirt/play")
        if parts[1:] == ["bpm"]:
            self.session.clock.set_bpm(_one("bpm", args), self.session.now())
            return
        if len(parts) != 3 or not all(parts):
            raise OscError("an address is /lmdm/<stream>/<attribute>, e.g. /lmdm/a/cfg")
        set_attribute(self.session, parts[1], parts[2], args)

    # ---- SuperDirt-shaped events -------------------------------------------------------------

    def dirt_play(self, args: list, at: float | None) -> None:
        fields = key_values(args)
        name = fields.get("s")
        stream = _stream(self.session, name if isinstance(name, str) else None, "/dirt/play needs s, the stream's name")
        values = dirt_values(fields)       # checked before anything changes
        if not values:
            return
        wall, clock = self.wallclock, self.session.clock
        t = (time.monotonic() if at is None else at) + wall.latency + wall.nudge
        begin = clock.cycle_at(round(wall.sample_at(t)))
        seconds = _length(fields)
        end = clock.cycle_at(round(wall.sample_at(t + seconds))) if seconds else None
        floor = self.session.cycle_now() - 4
        for lane, value in values.items():
            events = self._lanes.setdefault((name, lane), EventLane())
            events.add(begin, end, value, floor)
            setattr(stream, lane, events.pattern())      # the stream's own setter, as the REPL sets it

    # ---- errors ---------------------------------------------------------------------------------

    def _error(self, sender, address: str, error: Exception) -> None:
        self.errors += 1
        line = f"{address}: {type(error).__name__}: {error}".replace("\n", " ")
        if sender is not None:
            from pythonosc.osc_message_builder import OscMessageBuilder
            reply = OscMessageBuilder("/lmdm/error")
            reply.add_arg(line)
            try:
                self._sock.sendto(reply.build().dgram, sender)
            except OSError:
                pass                   # a sender that went away
        if line != self._last_printed:             # a pattern looping on one mistake prints it once
            self._last_printed = line
            print(f"lmdmlive osc: {line}", file=sys.stderr)

    def close(self) -> None:
        self._running = False
        self._sock.close()
        self._thread.join(timeout=2)

    def __repr__(self) -> str:
        return f"OscIn({self.host}:{self.port}, {self.messages} messages, {self.errors} errors)"


def set_attribute(session, stream_name: str, attribute: str, args: list) -> None:
    """`/lmdm/<stream>/<attribute> args`: what `stream.attribute = value` does at the REPL."""
    stream = _stream(session, stream_name)
    if attribute.startswith("_"):
        raise OscError(f"{attribute!r} is not something to set")
    if attribute in METHODS:
        getattr(stream, attribute)(*args)
    elif attribute in ARRANGEMENT_RANGES:
        stream.arrange(**{attribute: _one(attribute, args)})
    else:
        setattr(stream, attribute, _one(attribute, args))


def key_values(args: list) -> dict:
    """SuperDirt's argument list: name, value, name, value, ..."""
    if len(args) % 2:
        raise OscError(f"/dirt/play takes name/value pairs, got {len(args)} arguments")
    keys = args[::2]
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        raise OscError(f"/dirt/play: a name is text, got {bad[0]!r}")
    return dict(zip(keys, args[1::2]))


def dirt_values(fields: dict) -> dict:
    """Lane values of one event: pitch (MIDI), loud (dB), bright (Hz); each checked as a lane checks it."""
    values = {}
    if "midinote" in fields or "note" in fields or "n" in fields:
        if "midinote" in fields:
            pitch = _number("midinote", fields["midinote"])
        else:
            key = "note" if "note" in fields else "n"
            raw = fields[key]
            # a name ("c4", as Strudel may send) is a MIDI note; a number is semitones from middle C
            pitch = note(raw) if isinstance(raw, str) else 60 + _number(key, raw)
            if "octave" in fields:
                pitch += 12 * (_number("octave", fields["octave"]) - 5)
        values["pitch"] = pitch
    if "gain" in fields:
        gain = _number("gain", fields["gain"])
        lo, hi, _ = RANGES["loud"]
        values["loud"] = lo if gain <= 0 else min(hi, max(lo, GAIN_REFERENCE_DB + 80 * math.log10(gain)))
    if "cutoff" in fields:
        lo, hi, _ = RANGES["bright"]
        values["bright"] = min(hi, max(lo, _number("cutoff", fields["cutoff"])))
    for lane, value in values.items():
        lane_pattern(lane, value)            # raises, with the lane's own words, before anything changes
    return values


class EventLane:
    """Timed events of one lane as a Pattern: each value holds from its begin to its end (or the
    next event), so the lane sounds what the sender played, where it played it."""

    def __init__(self):
        self._events: list[tuple[Fraction, Fraction | None, float]] = []

    def add(self, begin: Fraction, end: Fraction | None, value, floor: Fraction) -> None:
        events = [e for e in self._events if e[0] != begin and (e[0] >= floor or e[1] is None or e[1] >= floor)]
        events.append((begin, end, value))
        events.sort(key=lambda e: e[0])
        self._events = events[-MAX_EVENTS:]

    def pattern(self) -> Pattern:
        events = tuple(self._events)           # a snapshot: the engine may query it from its thread
        begins = [e[0] for e in events]

        def query(span: Span) -> list:
            out = []
            first = max(0, bisect_right(begins, span.begin) - 1)
            last = bisect_left(begins, span.end) if span.end > span.begin else first + 1
            for i in range(first, min(last, len(events))):
                b, e, value = events[i]
                stop = b + HOLD_CYCLES if e is None else e
                if i + 1 < len(events):
                    stop = min(stop, begins[i + 1])
                whole = Span(b, stop)
                part = whole.intersect(span)
                if part is not None and (part.begin < part.end or span.begin == span.end):
                    out.append(Hap(whole, part, value))
            return out
        return Pattern(query)

    def __len__(self) -> int:
        return len(self._events)


def _stream(session, name: str | None, missing: str | None = None):
    streams = session.streams_by_name
    if name is None:
        raise OscError(missing or "no stream name given")
    if name not in streams:
        known = ", ".join(sorted(streams)) or "none"
        raise OscError(f"no stream named {name!r} (named streams: {known}); make one with stream(..., name={name!r})")
    return streams[name]


def _one(name: str, args: list):
    if len(args) != 1:
        raise OscError(f"{name} takes one value, got {len(args)}")
    return args[0]


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OscError(f"/dirt/play: {name} must be a number, got {value!r}")
    return float(value)


def _length(fields: dict) -> float | None:
    """An event's length in seconds: sustain, else delta (x legato), else None (until the next)."""
    if "sustain" in fields:
        seconds = _number("sustain", fields["sustain"])
    elif "delta" in fields:
        seconds = _number("delta", fields["delta"]) * (_number("legato", fields["legato"]) if "legato" in fields else 1)
    else:
        return None
    return seconds if 0 < seconds <= 3600 else None
