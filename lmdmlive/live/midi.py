"""MIDI controllers on python-rtmidi: knobs on Params, notes on pitch lanes, tempo from MIDI clock.

    >>> midi = session.midi("nanoKONTROL")        # opens the first input whose name matches
    >>> midi.cc(74, a.cfg, lo=1, hi=6)            # a knob, over a range
    >>> midi.cc(1, a.cfg, fine=33)                # 14-bit: MSB on CC 1, LSB on CC 33
    >>> midi.learn(b.cfg)                         # the next control moved is bound
    >>> midi.notes(a)                             # keys set a's pitch lane
    >>> midi.follow_clock()                       # the session's tempo follows MIDI clock
    >>> midi.save("set.midi.json"); midi.load("set.midi.json")

Messages arrive on rtmidi's own thread and only set Param values and lanes, which the
engine reads at the next block: nothing here can stall the audio. If the device is
unplugged, the session plays on and the mappings stay; a watchdog reopens the port
when a device of the same name comes back.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .clock_follow import CLOCK_WINDOW, clock_bpm
from .param import Param


class MidiError(RuntimeError):
    pass


def _rtmidi():
    try:
        import rtmidi
    except ImportError as e:         # pragma: no cover - a dependency of the package
        raise MidiError(f"python-rtmidi is not importable ({e}); pip install python-rtmidi") from None
    return rtmidi


def _api(name: str):
    """rtmidi's API for a name; "auto" is JACK when a JACK server runs, else ALSA."""
    rtmidi = _rtmidi()
    apis = {"jack": rtmidi.API_UNIX_JACK, "alsa": rtmidi.API_LINUX_ALSA}
    if name == "auto":
        from ..audio.server import jack_running
        name = "jack" if jack_running() else "alsa"
    if name not in apis:
        raise MidiError(f"unknown MIDI API {name!r}; choose one of {sorted(apis) + ['auto']}")
    return apis[name]


def list_ports(api: str = "auto") -> list[str]:
    """Names of the MIDI inputs that can be opened now."""
    try:
        probe = _rtmidi().MidiIn(rtapi=_api(api), name="lmdmlive-probe")
    except Exception as e:       # rtmidi raises SystemError when no MIDI system answers
        raise MidiError(f"no MIDI system answers ({e}); start JACK or load ALSA's sequencer "
                        "(`lmdmlive doctor` checks)") from None
    try:
        return probe.get_ports()
    finally:
        probe.delete()


@dataclass
class CCBinding:
    control: int
    target: str                   # "stream.param" for saving; the Param itself is held apart
    channel: int | None = None    # 1..16, None = any
    lo: float | None = None
    hi: float | None = None
    curve: str = "lin"
    fine: int | None = None       # LSB controller number for 14-bit


class Midi:
    """A MIDI input: knobs on Params, keys on pitch lanes, tempo from MIDI clock.

        >>> a = session.stream("warm ambient pads", name="a")
        >>> ctl = session.midi(virtual="lmdmlive in")   # a port your controller connects to
        >>> ctl.cc(74, a.cfg, lo=1, hi=6)               # a knob, over a range
        >>> ctl.notes(a)                                # keys set a's pitch lane
        >>> ctl.follow_clock()                          # the tempo follows MIDI clock
    """

    def __init__(self, session, port: str | None = None, api: str = "auto", client: str = "lmdmlive",
                 watch_seconds: float = 1.0):
        self.session, self.api, self.client = session, api, client
        self._in = None
        self.port_name: str | None = None
        self.virtual = False
        self.connected = False
        self.bindings: list[tuple[CCBinding, Param]] = []
        self._msb: dict[tuple[int, int], int] = {}      # (channel, control) -> last MSB, for 14-bit
        self._learning: tuple[Param, dict] | None = None
        self._note_streams: list[tuple[object, int | None]] = []
        self._triggers: dict[int, object] = {}
        self._held: dict[object, list[int]] = {}
        self._clock_ticks: list[float] = []
        self._follow_clock = False
        self._stamp: float | None = None               # arrival time summed from rtmidi's deltas
        self.messages = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._watch_seconds = watch_seconds
        self._watching = False
        self._watch: threading.Thread | None = None
        if port is not None:
            self.open(port)

    # ---- ports ---------------------------------------------------------------------------------

    def ports(self) -> list[str]:
        return list_ports(self.api)

    def open(self, port: str | int) -> "Midi":
        """Open an input by index or by (part of) its name; a missing device says which exist."""
        names = self.ports()
        if isinstance(port, int) and not isinstance(port, bool):
            if not 0 <= port < len(names):
                raise MidiError(f"no MIDI input {port}; inputs are {names or 'none'}")
            name = names[port]
        elif isinstance(port, str):
            matches = [n for n in names if port.lower() in n.lower()]
            if not matches:
                raise MidiError(f"no MIDI input matches {port!r}; inputs are {names or 'none'} "
                                "(`lmdmlive doctor` lists them)")
            name = matches[0]
        else:
            raise MidiError(f"a MIDI port is a name or an index, got {type(port).__name__}")
        self.port_name, self.virtual = name, False
        self._connect()
        self._start_watch()
        return self

    def open_virtual(self, name: str = "lmdmlive in") -> "Midi":
        """A port of our own that controllers or other programs connect to."""
        self._close_port()
        self._in = self._new_in()
        self._in.open_virtual_port(name)
        self.port_name, self.virtual, self.connected = name, True, True
        return self

    def _new_in(self):
        try:
            m = _rtmidi().MidiIn(rtapi=_api(self.api), name=self.client)
        except MidiError:
            raise
        except Exception as e:
            raise MidiError(f"no MIDI system answers ({e}); start JACK or load ALSA's sequencer") from None
        m.ignore_types(sysex=True, timing=False, active_sense=True)
        m.set_callback(self._on_message)
        return m

    def _connect(self) -> bool:
        names = self.ports()
        if self.port_name not in names:
            self.connected = False
            return False
        self._close_port()
        self._in = self._new_in()
        self._in.open_port(names.index(self.port_name), "in")
        self.connected = True
        return True

    def _close_port(self) -> None:
        if self._in is not None:
            try:
                self._in.cancel_callback()
                self._in.close_port()
                self._in.delete()
            except Exception:
                pass
            self._in = None

    def _start_watch(self) -> None:
        if self._watch is None:
            self._watching = True
            self._watch = threading.Thread(target=self._watch_loop, name="lmdmlive-midi-watch", daemon=True)
            self._watch.start()

    def _watch_loop(self) -> None:
        """An unplugged device leaves the mappings; when it returns, it is opened again."""
        while self._watching:
            time.sleep(self._watch_seconds)
            try:
                present = self.port_name in self.ports()
                if self.connected and not present:
                    self.connected = False
                    print(f"lmdmlive midi: {self.port_name!r} went away; mappings kept, waiting for it",
                          file=sys.stderr)
                elif not self.connected and present:
                    if self._connect():
                        print(f"lmdmlive midi: {self.port_name!r} is back", file=sys.stderr)
            except Exception as e:       # the watchdog must outlive a confused MIDI stack
                self.errors += 1
                print(f"lmdmlive midi: {type(e).__name__}: {e}", file=sys.stderr)

    def close(self) -> None:
        self._watching = False
        if self._watch is not None:
            self._watch.join(timeout=2 * self._watch_seconds + 1)
            self._watch = None
        self._close_port()
        self.connected = False

    # ---- mappings ------------------------------------------------------------------------------

    def cc(self, control: int, param: Param, channel: int | None = None, lo: float | None = None,
           hi: float | None = None, curve: str = "lin", fine: int | None = None, target: str | None = None) -> CCBinding:
        """Bind controller `control` (0-127) to `param`, mapped onto lo..hi (the Param's range by default)."""
        _check_number("control", control, 0, 127)
        if fine is not None:
            _check_number("fine (LSB controller)", fine, 0, 127)
        if channel is not None:
            _check_number("channel", channel, 1, 16)
        if not isinstance(param, Param):
            raise MidiError(f"a controller moves a Param (e.g. a.cfg), got {type(param).__name__}")
        if curve not in ("lin", "exp"):
            raise MidiError(f"curve is 'lin' or 'exp', got {curve!r}")
        binding = CCBinding(control, target or self._name_of(param), channel, lo, hi, curve, fine)
        with self._lock:
            self.bindings = [(b, p) for b, p in self.bindings if not (b.control == control and b.channel == channel)]
            self.bindings.append((binding, param))
        return binding

    def learn(self, param: Param, **options) -> None:
        """The next controller moved is bound to `param` (with the options of `cc`)."""
        if not isinstance(param, Param):
            raise MidiError(f"learn binds a Param (e.g. a.cfg), got {type(param).__name__}")
        self._learning = (param, options)

    @property
    def learning(self) -> bool:
        return self._learning is not None

    def notes(self, stream, channel: int | None = None) -> None:
        """Keys set `stream`'s pitch lane: the last key held sounds; none held is a rest."""
        if channel is not None:
            _check_number("channel", channel, 1, 16)
        if (stream, channel) not in self._note_streams:      # a patch run again binds once
            self._note_streams.append((stream, channel))

    def trigger(self, note: int, action) -> None:
        """Call `action()` when key `note` is pressed (e.g. lambda: a.stop())."""
        _check_number("note", note, 0, 127)
        if not callable(action):
            raise MidiError("a trigger's action must be callable (e.g. lambda: a.stop())")
        self._triggers[int(note)] = action

    def follow_clock(self, on: bool = True) -> None:
        """Set the session's tempo from incoming MIDI clock (24 ticks per beat)."""
        self._follow_clock = bool(on)
        self._clock_ticks = []

    def _name_of(self, param: Param) -> str:
        for name, stream in self.session._named.items():
            for attr, value in vars(stream).items():
                if value is param:
                    return f"{name}.{attr}"
        return f"?.{param.name}"

    def save(self, path) -> Path:
        path = Path(path)
        unsaved = [b.target for b, _ in self.bindings if b.target.startswith("?.")]
        if unsaved:
            raise MidiError(f"mappings to streams without a name cannot be saved ({unsaved}); "
                            "make the stream with session.stream(..., name='a')")
        data = {"port": self.port_name, "cc": [asdict(b) for b, _ in self.bindings]}
        path.write_text(json.dumps(data, indent=1) + "\n")
        return path

    def load(self, path) -> int:
        """Bind every mapping of a saved file whose stream exists; returns how many were bound."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MidiError(f"{path}: cannot read MIDI mappings ({e})") from None
        bound = 0
        for item in data.get("cc", []):
            stream_name, _, attr = item["target"].partition(".")
            stream = self.session._named.get(stream_name)
            param = getattr(stream, attr, None) if stream is not None else None
            if not isinstance(param, Param):
                print(f"lmdmlive midi: {path}: no Param {item['target']!r} in this session; skipped", file=sys.stderr)
                continue
            self.cc(param=param, **item)
            bound += 1
        return bound

    # ---- incoming messages (rtmidi's thread) -------------------------------------------------

    def _on_message(self, event, _data=None) -> None:
        try:
            message, delta = event
            self.messages += 1
            # rtmidi stamps each message in its MIDI thread, which needs no interpreter lock; the
            # time this callback runs at does (a busy line in the REPL delays it by milliseconds).
            self._stamp = time.perf_counter() if self._stamp is None else self._stamp + float(delta)
            self.handle(message, self._stamp)
        except Exception as e:           # a strange message must not kill rtmidi's thread
            self.errors += 1
            if self.errors <= 5:
                print(f"lmdmlive midi: {type(e).__name__}: {e} (message {event!r})", file=sys.stderr)

    def handle(self, message: list[int], now: float) -> None:
        if not message:
            return
        status = message[0]
        if status == 0xF8:
            self._tick(now)
            return
        kind, channel = status & 0xF0, (status & 0x0F) + 1
        if kind == 0xB0 and len(message) >= 3:
            self._control(channel, message[1], message[2])
        elif kind == 0x90 and len(message) >= 3 and message[2] > 0:
            self._note_on(channel, message[1])
        elif kind == 0x80 or (kind == 0x90 and len(message) >= 3 and message[2] == 0):
            self._note_off(channel, message[1])

    def _control(self, channel: int, control: int, value: int) -> None:
        if self._learning is not None:
            param, options = self._learning
            self._learning = None
            self.cc(control, param, **options)
        with self._lock:
            bindings = list(self.bindings)
        for b, param in bindings:
            if b.channel is not None and b.channel != channel:
                continue
            if b.fine is not None and control == b.control:
                self._msb[(channel, control)] = value
                x = value * 128 / 16383
            elif b.fine is not None and control == b.fine:
                x = (self._msb.get((channel, b.control), 0) * 128 + value) / 16383
            elif control == b.control:
                x = value / 127
            else:
                continue
            _set_ranged(param, x, b)

    def _note_on(self, channel: int, note: int) -> None:
        if note in self._triggers:
            self._triggers[note]()
        for stream, ch in self._note_streams:
            if ch is None or ch == channel:
                held = self._held.setdefault(id(stream), [])
                held.append(note)
                stream.pitch = float(note)

    def _note_off(self, channel: int, note: int) -> None:
        for stream, ch in self._note_streams:
            if ch is None or ch == channel:
                held = self._held.setdefault(id(stream), [])
                if note in held:
                    held.remove(note)
                stream.pitch = float(held[-1]) if held else "~"

    def _tick(self, now: float) -> None:
        if not self._follow_clock:
            return
        ticks = self._clock_ticks
        if ticks and now - ticks[-1] > 0.5:        # the clock stopped and started again: a fresh count
            ticks.clear()
        ticks.append(now)
        if len(ticks) > CLOCK_WINDOW:
            del ticks[0]
        if len(ticks) >= 25:
            bpm = clock_bpm(ticks)
            if abs(bpm - self.session.bpm) >= 0.5 and 20 <= bpm <= 400:
                self.session.clock.set_bpm(round(bpm, 1), self.session.now(), quantize="now")


def _set_ranged(param: Param, x: float, b: CCBinding) -> None:
    if b.lo is None and b.hi is None:
        param.set_normalized(x, b.curve)
        return
    lo = b.lo if b.lo is not None else param.lo
    hi = b.hi if b.hi is not None else param.hi
    if b.curve == "exp" and lo > 0:
        v = lo * (hi / lo) ** x
    else:
        v = lo + (hi - lo) * x
    param.set(round(v) if param.integer else v)


def _check_number(what: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MidiError(f"{what} must be a whole number from {lo} to {hi}, got {value!r}")
