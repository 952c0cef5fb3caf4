"""Stream: a prompt and sketch lanes, played by the engine, and a pyo object itself.

    >>> a = session.stream("dusty boom bap drums", seed=3).out()
    >>> a.pitch = "c4 [eb4 g4] <bb4 ab4>"
    >>> a.loud = "-12 -20"
    >>> a.cfg.ramp(4, bars=8)
    >>> a.morph("dark techno", bars=8)
    >>> verb = Freeverb(a, size=0.8).out()
    >>> a.stop_at("bar")                # fades out at the next bar; a.play_at("bar") comes back
    >>> a.stop()                        # as any pyo object: stops now; a.play() or a.out() resumes

A new prompt, lane or parameter takes effect at the stream's next block. A mistake
raises a clear error at the line typed, and the stream keeps playing what it had.
The engine asks a stream for its controls once a block (`controls_at`), in the
performer's units; the stream writes nothing into the engine.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import Future
from fractions import Fraction

import pyo
import torch

from ..audio.player import keep_alive
from ..engine.controls import ARRANGEMENT_RANGES, MAX_STEPS, BlockControls, FrameTimes
from .lanes import LANES, frame_cycles, lane_pattern, lanes_for_frames
from .param import MAX_BARS, Param
from .prompt import Morph, Prompt, ready_vector

QUANTS = ("bar", "beat", "block", "now")
FADE_SECONDS = 0.05          # stop() and play() fade over this: pyo's stop is a cut, a stream never clicks


class Stream(pyo.PyoObject):
    """Generated music as a pyo object: a prompt, sketch lanes and Params, played by the engine.

        >>> a = session.stream("dusty boom bap drums", seed=3)
        >>> a.loud = "-12 -20"                # a lane: loudness in dB, in mini-notation
        >>> a.pitch = "c4 [eb4 g4]"           # note names; "~" leaves a frame free
        >>> verb = Freeverb(a, size=0.8, bal=0.3).out()   # any pyo effect after it
        >>> a.stop_at("bar")                  # fades out at the next bar; a.play_at("bar") brings it back
    """

    MADE_WITH = frozenset({"player", "steps", "cfg", "seed"})
    """Attributes set when the stream is made, which a performer cannot assign (`__setattr__`)."""

    def __init__(self, session, prompt=None, seed: int = 0, mul=1, add=0, _engine_stream=None):
        pyo.PyoObject.__init__(self, mul, add)
        self._session = session
        self._engine_stream = _engine_stream or session.engine.add_stream(seed=seed)
        try:
            self._setup(session, prompt, seed, mul, add)
        except BaseException:
            session.engine.remove_stream(self._engine_stream)     # a refused stream leaves nothing behind
            raise

    def _setup(self, session, prompt, seed, mul, add):
        self.player = self._engine_stream.player
        self._gate = pyo.SigTo(1.0, time=0.05)
        self.player.mul = self._gate
        nchnls = int(self.player.getServer().getNchnls()) if hasattr(self.player, "getServer") else 1
        self._pan_value = pyo.SigTo(0.5, time=0.05)
        self._panner = pyo.Pan(self.player, outs=max(1, nchnls), pan=self._pan_value, mul=mul, add=add)
        self._base_objs = self._panner.getBaseObjects()
        # the player reads the gate and the panner the pan: freed before them, they crash pyo
        keep_alive(self._gate, self._pan_value, self._panner)
        now = session.cycle_now
        engine = session.engine
        self.steps = Param("steps", engine.steps, 1, MAX_STEPS, integer=True, now=now)
        self.cfg = Param("cfg", engine.guidance, 0.0, 20.0, now=now)
        self.seed = Param("seed", seed, 0, 2 ** 31 - 1, integer=True, now=now)
        self._style: torch.Tensor | Future | Morph | None = None
        self._good_style = self._good_prompt = None     # the last vector that played, and its prompt
        self._prompt = None
        self._lanes: dict[str, object] = {}
        self._arrangement: dict[str, Param] = {}
        self._start_sample = session.now()
        self._paused_at: int | None = None
        if prompt is not None:
            self.prompt = prompt
        # last: the engine asks for controls from its own thread (or process) once this is set
        self._engine_stream.provider = self.controls_at

    # ---- parameters: typing a number, text or pattern sets the Param; reading gives the Param ----

    def __setattr__(self, name, value):
        current = self.__dict__.get(name)
        if isinstance(current, Param) and not isinstance(value, Param):
            current.set(value)          # raises on a bad value; the Param keeps what it had
            return
        if isinstance(current, Param) and value is not current:
            current.set(value.value)
            return
        if not name.startswith("_"):
            # A typo (`a.pitchh = "c4"`) would otherwise make a new attribute nobody reads: only
            # the names __init__/_setup (and Delay.__init__) set, and settable properties, pass.
            cls = type(self)
            own = cls.MADE_WITH
            attr = getattr(cls, name, None)
            if name in own:
                if name in self.__dict__:
                    raise AttributeError(f"{name} of a {cls.__name__} is set when it is made and cannot change")
            elif isinstance(attr, property):
                if attr.fset is None:
                    raise AttributeError(f"{name} of a {cls.__name__} is read-only")
            elif attr is not None and callable(attr):
                raise AttributeError(f"{name} of a {cls.__name__} is a method: call it, e.g. .{name}()")
            else:
                import difflib
                settable = list(LANES)
                settable += [n for n, v in self.__dict__.items() if isinstance(v, Param)]
                for klass in cls.__mro__:
                    settable += [n for n, v in vars(klass).items() if isinstance(v, property) and v.fset is not None
                                 and not n.startswith("_") and n not in settable]
                close = difflib.get_close_matches(name, settable, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise AttributeError(f"a {cls.__name__} has no {name!r} to set: {hint}"
                                     f"settable are {', '.join(settable)}")
        object.__setattr__(self, name, value)
        if name in LANES:            # what the performer typed, for Session.status
            texts = self.__dict__.setdefault("_lane_text", {})
            if isinstance(value, str) or isinstance(value, (int, float)) and not isinstance(value, bool):
                texts[name] = str(value)
            else:
                texts.pop(name, None)

    def __dir__(self):
        # pyo's PyoObject.__dir__ lists only the constructor's arguments (add, mul, prompt): the
        # REPL's completion needs the lanes, Params, methods and properties too.
        return sorted(object.__dir__(self))

    # ---- what the performer sets -----------------------------------------------------------------

    @property
    def prompt(self):
        return self._prompt

    @prompt.setter
    def prompt(self, value):
        style = self._style_of(value)
        self._style, self._prompt = style, value if not isinstance(value, torch.Tensor) else "<vector>"
        if isinstance(style, Future) and self._good_style is None:
            self._engine_stream.wait_for(style)     # a new stream starts with its prompt, not before
        self._engine_stream.changed_at = time.perf_counter()

    def _style_of(self, value):
        dim = self._session.engine.bundle.lmdm.cfg.style_dim
        if isinstance(value, torch.Tensor):
            if value.shape != (dim,):
                raise ValueError(f"a style vector must have shape ({dim},), got {tuple(value.shape)}")
            return value.float()[None]
        if isinstance(value, str):
            return self._session.style(value) if value.strip() else None
        if isinstance(value, Prompt):
            return self._session.style(value)
        if value is None:
            return None
        raise TypeError(f"a prompt is text, a Prompt or a style vector, got {type(value).__name__}")

    def morph(self, to, bars: float = 4) -> "Stream":
        """Glide from the current prompt to `to` over `bars` bars, starting now."""
        if isinstance(bars, bool) or not isinstance(bars, (int, float)) or not 0 < bars <= MAX_BARS:
            raise ValueError(f"morph: bars must be a number above 0 and at most {MAX_BARS}, got {bars!r}")
        target = self._style_of(to)
        if target is None:
            raise ValueError("morph: the target prompt is empty")
        now = self._session.cycle_now()
        start = self._style if isinstance(self._style, Future) else self._style_at(now)
        if start is None:
            start = target
        self._style = Morph(start, target, now, now + Fraction(bars).limit_denominator(1000))
        self._prompt = to
        self._engine_stream.changed_at = time.perf_counter()
        return self

    def _style_at(self, cycle):
        """The style vector at `cycle`. A prompt still being embedded (a future, when the
        engine has a process of its own) leaves the last one playing; a prompt that could
        not be embedded is reported once and dropped for the last good one."""
        try:
            style = self._style.at(cycle) if isinstance(self._style, Morph) else ready_vector(self._style)
        except Exception as e:
            print(f"lmdmlive stream: prompt {self._prompt!r}: {e} (keeping the previous prompt)", file=sys.stderr)
            self._style, self._prompt = self._good_style, self._good_prompt
            return self._good_style
        if style is None:
            return self._good_style if self._style is not None else None
        self._good_style, self._good_prompt = style, self._prompt
        return style

    def _lane(self, name, value):
        if value is None:
            self._lanes.pop(name, None)
        else:
            self._lanes[name] = lane_pattern(name, value)      # raises before anything changes
        self._engine_stream.changed_at = time.perf_counter()

    def arrange(self, **controls) -> "Stream":
        """Arrangement knobs beside the prompt: drums, bass, harmony, lead (presence 0..1),
        density (notes per second), brightness (Hz), tempo (BPM). None drops a control."""
        made = {}
        for name, value in controls.items():
            if name not in ARRANGEMENT_RANGES:
                raise ValueError(f"unknown arrangement control {name!r}; controls are {', '.join(ARRANGEMENT_RANGES)}")
            if value is None:
                made[name] = None
                continue
            lo, hi = ARRANGEMENT_RANGES[name]
            p = self._arrangement.get(name) or Param(name, lo, lo, hi, now=self._session.cycle_now)
            p.set(value)                       # raises before anything changes
            made[name] = p
        for name, p in made.items():
            if p is None:
                self._arrangement.pop(name, None)
            else:
                self._arrangement[name] = p
        self._engine_stream.changed_at = time.perf_counter()
        return self

    @property
    def arrangement(self) -> dict:
        return dict(self._arrangement)

    pitch = property(lambda self: self._lanes.get("pitch"), lambda self, v: self._lane("pitch", v))
    loud = property(lambda self: self._lanes.get("loud"), lambda self, v: self._lane("loud", v))
    bright = property(lambda self: self._lanes.get("bright"), lambda self, v: self._lane("bright", v))
    rhythm = property(lambda self: self._lanes.get("rhythm"), lambda self, v: self._lane("rhythm", v))

    @property
    def pan(self) -> float:
        return self._pan_value.value

    @pan.setter
    def pan(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"pan is a number from 0 (left) to 1 (right), got {value!r}")
        self._pan_value.value = float(value)

    @property
    def underruns(self) -> int:
        return self.player.underruns

    # ---- playing and stopping: pyo's meaning, and quantized ----------------------------------------

    def play(self, dur: float = 0, delay: float = 0) -> "Stream":
        """As pyo's `play`: start now (after `delay` seconds; for `dur` seconds when above 0),
        going on where the stream stopped. A stream plays from when it is made."""
        at = self._session.now() + _samples(self._session, "delay", delay)
        self._resume_at(at, FADE_SECONDS)
        if dur:
            self._pause_at(at + _samples(self._session, "dur", dur), FADE_SECONDS)
        if not self.isPlaying():          # the panner, if pyo's own stop reached it
            pyo.PyoObject.play(self)
        return self

    def out(self, chnl=0, inc: int = 1, dur: float = 0, delay: float = 0) -> "Stream":
        """As pyo's `out`: play (see `play`) and send to the output (the session's master bus)."""
        from ..audio.master import installed
        self.play(dur, delay)
        bus = installed()
        if bus is None:
            return pyo.PyoObject.out(self, chnl, inc)
        bus.add(self, chnl, inc)
        return self

    def stop(self, wait: float = 0) -> "Stream":
        """As pyo's `stop`: stop now (after `wait` seconds), with a 50 ms fade instead of a cut;
        generation pauses until `play`, `out` or `play_at`."""
        self._pause_at(self._session.now() + _samples(self._session, "wait", wait), FADE_SECONDS)
        return self

    def stop_at(self, quant: str = "bar", fade: float = 0.05) -> "Stream":
        """Fade out at the next bar (or beat, block, now); generation pauses until `play_at` (or `play`)."""
        self._pause_at(self._session.quantized(quant), _fade(fade))
        return self

    def play_at(self, quant: str = "bar", fade: float = 0.05) -> "Stream":
        """Fade back in at the next bar (or beat, block, now), going on where the stream stopped."""
        self._resume_at(self._session.quantized(quant), _fade(fade))
        return self

    def _pause_at(self, at: int, fade: float) -> None:
        def close():
            self._gate.time = fade
            self._gate.value = 0.0

        def pause():
            if self._gate.value == 0.0 and self._paused_at is None:   # not played again meanwhile
                self.player.ring.paused = True
                self._engine_stream.active = False
                self._paused_at = self._session.now()

        self._session.at(at, close)
        self._session.at(at + int(fade * self._session.sample_rate) + 1, pause)

    def _resume_at(self, at: int, fade: float) -> None:
        def go():
            if self._paused_at is not None:
                self._start_sample += self._session.now() - self._paused_at
                self._paused_at = None
            self.player.ring.paused = False
            self._engine_stream.active = True
            self._gate.time = fade
            self._gate.value = 1.0

        self._session.at(at, go)

    @property
    def playing(self) -> bool:
        return self._engine_stream.active and not self.player.ring.paused

    # ---- what the engine asks ------------------------------------------------------------------

    def controls_at(self, times: FrameTimes) -> BlockControls:
        """This stream's controls for the block whose frames sound at `times` (samples from the
        stream's start, engine/controls.py `frame_times`): lanes per frame, the prompt, the
        arrangement and the Params at the block's first frame, all in the performer's units."""
        bounds = frame_cycles(self._session.clock, times, self._start_sample)
        first = bounds[0]
        arrangement = {name: p.at(first) for name, p in list(self._arrangement.items())}
        lanes = lanes_for_frames(dict(self._lanes), bounds) if self._lanes else {}
        return BlockControls(style=self._style_at(first), arrangement=arrangement, steps=int(self.steps.at(first)),
                             guidance=float(self.cfg.at(first)), seed=int(self.seed.at(first)),
                             **lanes, **self._more_controls(first))

    def _more_controls(self, cycle) -> dict:
        """Per-block controls of subclasses (the delay's strength)."""
        return {}

    def close(self) -> None:
        """Remove the stream: the engine stops generating it and the master bus lets it go."""
        from ..audio.master import installed
        self._session.engine.remove_stream(self._engine_stream)
        bus = installed()
        if bus is not None:
            bus.remove(self)

    def __repr__(self) -> str:
        lanes = ", ".join(f"{k}" for k in self._lanes) or "no lanes"
        state = "playing" if self.playing else "stopped"
        return f"{type(self).__name__}({self._prompt!r}, {lanes}, {state}, {self.player.underruns} underruns)"


def _samples(session, name: str, seconds) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
        raise ValueError(f"{name} is a number of seconds from 0 to 3600, got {seconds!r}")
    return int(round(seconds * session.sample_rate))


def _fade(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 10.0:
        raise ValueError(f"fade is a number of seconds from 0 to 10, got {value!r}")
    return float(value)


__all__ = ["LANES", "QUANTS", "Stream"]
