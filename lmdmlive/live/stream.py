"""Stream: a prompt and sketch lanes, played by the engine, and a pyo object itself.

    >>> a = session.stream("dusty boom bap drums", seed=3).out()
    >>> a.pitch = "c4 [eb4 g4] <bb4 ab4>"
    >>> a.loud = "-12 -20"
    >>> a.cfg.ramp(4, bars=8)
    >>> a.morph("dark techno", bars=8)
    >>> verb = Freeverb(a, size=0.8).out()
    >>> a.stop()                        # fades out at the next bar; a.start() comes back

A new prompt, lane or parameter takes effect at the stream's next block. A mistake
raises a clear error at the line typed, and the stream keeps playing what it had.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import Future
from fractions import Fraction

import pyo
import torch

from ..audio.player import keep_alive
from ..audio.server import MissingInput, NoAudioInputError
from ..model import Conditions
from ..model.conditioning import arrangement_units
from ..model.config import ARRANGEMENT_CONTROLS
from ..model.sampler import MAX_STEPS
from .lanes import LANES, lane_pattern, sketch_for_frames
from .param import MAX_BARS, Param
from .prompt import Morph, Prompt, ready_vector

QUANTS = ("bar", "beat", "block", "now")
ARRANGEMENT_RANGES = {"drums": (0.0, 1.0), "bass": (0.0, 1.0), "harmony": (0.0, 1.0), "lead": (0.0, 1.0),
                      "density": (1.0, 16.0), "brightness": (250.0, 4000.0), "tempo": (60.0, 180.0)}


class Stream(pyo.PyoObject):
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
        self._engine_stream.provider = self._conditions_for_block

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
            own = {"player", "steps", "cfg", "seed"}
            if isinstance(self, Delay):
                own |= {"strength", "blocks", "route", "capture"}
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
            if name not in ARRANGEMENT_CONTROLS:
                raise ValueError(f"unknown arrangement control {name!r}; controls are {', '.join(ARRANGEMENT_CONTROLS)}")
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

    # ---- start and stop, quantized ---------------------------------------------------------------

    def stop(self, quant: str = "bar", fade: float = 0.05):
        """Fade out at the next bar (or beat, block, now); generation pauses until `start`."""
        at = self._session.quantized(quant)
        fade = _fade(fade)

        def close():
            self._gate.time = fade
            self._gate.value = 0.0

        def pause():
            self.player.ring.paused = True
            self._engine_stream.active = False
            self._paused_at = self._session.now()

        self._session.at(at, close)
        self._session.at(at + int(fade * self._session.sample_rate) + 1, pause)
        return self

    def start(self, quant: str = "bar", fade: float = 0.05):
        """Fade back in at the next bar (or beat, block, now), going on where the stream stopped."""
        at = self._session.quantized(quant)
        fade = _fade(fade)

        def go():
            if self._paused_at is not None:
                self._start_sample += self._session.now() - self._paused_at
                self._paused_at = None
            self.player.ring.paused = False
            self._engine_stream.active = True
            self._gate.time = fade
            self._gate.value = 1.0

        self._session.at(at, go)
        return self

    @property
    def playing(self) -> bool:
        return self._engine_stream.active and not self.player.ring.paused

    # ---- what the engine asks ------------------------------------------------------------------

    def _conditions_for_block(self, block: int) -> Conditions:
        engine, clock = self._session.engine, self._session.clock
        cfg = engine.bundle.lmdm.cfg
        frame_samples = Fraction(engine.server_rate, cfg.frame_rate)
        # a frame is asked for the moment it will sound: a delayed decoder plays it that much late
        codec_cfg = engine.bundle.codec.cfg
        late = Fraction(codec_cfg.delay_samples * engine.server_rate, codec_cfg.sample_rate)
        start = self._start_sample + late + block * cfg.block_frames * frame_samples
        cycles = [clock.cycle_at(int(start + k * frame_samples)) for k in range(cfg.block_frames)]
        width = clock.cycle_at(int(start + frame_samples)) - clock.cycle_at(int(start))
        es = self._engine_stream
        es.steps, es.guidance = int(self.steps.at(cycles[0])), float(self.cfg.at(cycles[0]))
        es.seed = int(self.seed.at(cycles[0]))
        self._block_params(es, cycles[0])
        style = self._style_at(cycles[0])
        arrangement = arrangement_mask = None
        if self._arrangement:
            arrangement = torch.zeros(1, len(ARRANGEMENT_CONTROLS))
            arrangement_mask = torch.zeros(1, len(ARRANGEMENT_CONTROLS))
            for name, p in list(self._arrangement.items()):
                i = ARRANGEMENT_CONTROLS.index(name)
                arrangement[0, i] = arrangement_units(name, p.at(cycles[0]))
                arrangement_mask[0, i] = 1.0
        if self._lanes:
            sketch, mask = sketch_for_frames(dict(self._lanes), cycles, width)
            return Conditions(style=style, sketch=sketch, sketch_mask=mask, arrangement=arrangement,
                              arrangement_mask=arrangement_mask)
        return Conditions(style=style, arrangement=arrangement, arrangement_mask=arrangement_mask)

    def _block_params(self, es, cycle) -> None:
        """Per-block parameters of subclasses (the delay's strength)."""

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


class Delay(Stream):
    """A generative delay: the live input (or any pyo object) answered `blocks` blocks later.

        >>> d = session.delay("glassy marimba", blocks=4, route="sketch").out()
        >>> d.feedback = 0.3               # its own output back into its input
        >>> d2 = session.delay(blocks=6, route="latent", strength=0.4).out()
    """

    def __init__(self, session, prompt=None, *, blocks: int = 4, route: str = "sketch", strength: float = 0.5,
                 feedback: float = 0.0, source=None, seed: int = 0, mul=1, add=0):
        from ..audio.capture import Capture
        from ..engine.delay import check_delay
        check_delay(blocks, route)           # before the capture and the stream: a refused delay leaves nothing
        _unit("strength", strength)
        fb = pyo.SigTo(_unit("feedback", feedback), time=0.05)
        source = source if source is not None else session.live_input
        if isinstance(source, MissingInput):
            raise NoAudioInputError(str(source.error))
        engine = session.engine
        # The capture hears the source plus the delay's own output times feedback; the output
        # lags the input by `blocks` blocks, so the loop never closes within one buffer.
        mixed = pyo.Sig(source)
        capture = Capture(mixed)
        es = engine.add_delay(capture, delay_blocks=blocks, route=route, strength=_unit("strength", strength),
                              seed=seed)
        # the engine may ask for this block's strength as soon as the stream exists
        object.__setattr__(self, "strength", Param("strength", float(strength), 0.0, 1.0, now=session.cycle_now))
        Stream.__init__(self, session, prompt, seed=seed, mul=mul, add=add, _engine_stream=es)
        self._feedback_value = fb
        self._mixed = mixed
        mixed.value = source + self.player * fb
        self.blocks, self.route, self.capture = blocks, route, capture

    @property
    def feedback(self) -> float:
        return self._feedback_value.value

    @feedback.setter
    def feedback(self, value):
        self._feedback_value.value = _unit("feedback", value)

    def _block_params(self, es, cycle) -> None:
        es.strength = float(self.strength.at(cycle))


def _unit(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a number from 0 to 1, got {value!r}")
    return float(value)


def _fade(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 10.0:
        raise ValueError(f"fade is a number of seconds from 0 to 10, got {value!r}")
    return float(value)


__all__ = ["LANES", "QUANTS", "Stream", "Delay"]
