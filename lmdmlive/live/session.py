"""Session: owns the audio server, the clock, the model and the engine; makes streams."""
from __future__ import annotations

import math
import sys
import time
from fractions import Fraction

import torch

from ..audio.server import CallbackHub, boot_server
from .clock import Clock
from ..engine.worker import Engine
from ..model.default import ModelBundle, load_default
from .delay import Delay
from .stream import Stream


class Session:
    """The instrument: the audio server, the clock, the model and its engine, the master bus.

    The REPL and `lmdmlive PATCH.py` make one and call it `session`. In a script of your
    own, `session = Session(bpm=120)` boots the audio (JACK if it runs, else the sound
    card) and `session.start()` begins generating.

        >>> a = session.stream("warm ambient pads", seed=1, name="pads").out()
        >>> session.master.gain = -6                      # dB, on everything that calls out()
        >>> session.clock.set_bpm(100, session.now())     # at the next bar
        >>> rec = session.record("take.wav")              # what you hear, from now on
        >>> session.hush()                                # every stream stops at the next bar
    """

    def __init__(self, audio: str = "auto", bpm: float = 120, bundle: ModelBundle | None = None, server=None,
                 text_encoder=None, engine: str = "auto", model=None, codec=None, **engine_kwargs):
        """`engine`: "process" runs the model in a process of its own (engine/process.py), so
        pyo's audio callback never waits for it; "thread" runs it in this process (offline and
        manual servers, tests, a given `bundle`). "auto" takes "process" on a real-time server
        (JACK or portaudio) playing the shipped model or the checkpoints `model`/`codec`."""
        if engine not in ("auto", "process", "thread"):
            raise ValueError(f"engine is 'auto', 'process' or 'thread', got {engine!r}")
        self.server = server if server is not None else boot_server(audio)
        if server is None:
            self.server.start()
        self.sample_rate = int(self.server.getSamplingRate())
        if engine == "auto":
            realtime = getattr(self.server, "lmdm_mode", None) in ("jack", "portaudio")
            engine = "process" if realtime and bundle is None else "thread"
        if engine == "process" and bundle is not None:
            raise ValueError("an engine process loads its model from checkpoints: give model=/codec= paths, "
                             "not a bundle")
        from ..audio.master import MasterBus
        self.master = MasterBus().install()     # every .out() meets here: one gain, one limiter
        self.clock = Clock(bpm, 4, self.sample_rate)
        if engine == "process":
            from ..engine.process import EngineProcess
            self.engine = EngineProcess(self.sample_rate, model, codec, **engine_kwargs)
        else:
            self.engine = Engine(bundle or load_default(model, codec), self.sample_rate, **engine_kwargs)
        self.bundle = self.engine.bundle
        self._text = text_encoder
        self._named: dict[str, Stream] = {}
        self._touched: set = set()
        self._midi: list = []
        self._input = None
        self._audio_encoder = None
        self._recorders: list = []
        self._adapter = None
        self._wallclock = None
        self._sync: dict = {}           # OSC inputs, Link, MIDI clock outs, by what made them
        bs = int(self.server.getBufferSize())
        realtime = getattr(self.server, "lmdm_mode", None) in ("jack", "portaudio")
        self._counter = _SampleCounter(bs, bs / self.sample_rate if realtime else None)
        CallbackHub.of(_c_server()).add(self._counter)

    @property
    def xruns(self) -> int | None:
        """Buffers the audio callback was too late for (an estimate from its timing; JACK's own
        count is in its log), on a real-time server; None offline or in manual mode."""
        return self._counter.missed if self._counter.period is not None else None

    @property
    def peak(self) -> float:
        """The output's recent peak in dB (the master bus after its limiter)."""
        return self.master.peak_db

    def now(self) -> int:
        """Samples the server has played since the session began: the clock's time."""
        return self._counter.samples

    def cycle_now(self) -> Fraction:
        """Where the clock is now, in cycles (bars)."""
        return self.clock.cycle_at(self.now())

    def quantized(self, quant: str = "bar") -> int:
        """The sample of the next bar, beat or block boundary ("now": the next buffer)."""
        now = self.now()
        if quant == "bar":
            return self.clock.next_bar(now)
        if quant == "beat":
            beats = self.clock.cycle_at(now) * self.clock.beats_per_cycle
            return self.clock.sample_at(Fraction(math.ceil(beats), self.clock.beats_per_cycle))
        if quant == "block":
            cfg = self.bundle.lmdm.cfg
            return self.clock.next_boundary(now, int(cfg.block_seconds * self.sample_rate))
        if quant == "now":
            return now
        raise ValueError(f"quantize to 'bar', 'beat', 'block' or 'now', got {quant!r}")

    def at(self, sample: int, action) -> None:
        """Run `action` (a small function) in the audio thread at the buffer holding `sample`."""
        self._counter.schedule(sample, action)

    @property
    def engine_apart(self) -> bool:
        """True when the model runs in a process of its own (prompts are embedded there)."""
        return not isinstance(self.engine, Engine)

    def style(self, prompt):
        """The style vector of a prompt (text or `Prompt`): (1, dim) at once with the engine in
        this process, or a future of it when the engine process embeds it."""
        from .prompt import Prompt
        prompt = Prompt.coerce(prompt)
        if self.engine_apart:
            return self.engine.style(prompt.engine_parts())
        return prompt.vector(self.embed, self.embed_audio)

    def embed_audio(self, path) -> torch.Tensor:
        """(1, 384) style vector of an audio file (engine/style.py)."""
        from ..engine.style import StyleError, embed_audio_file
        from ..model.default import load_audio_prompt_encoder
        from .prompt import PromptError
        if self.engine_apart:
            from .prompt import Prompt
            return self.style(Prompt(audio=path)).result(timeout=120)
        if self._audio_encoder is None:
            self._audio_encoder = load_audio_prompt_encoder()
        try:
            return embed_audio_file(self.bundle.codec, self._audio_encoder, path)
        except StyleError as e:
            raise PromptError(str(e)) from None

    def embed(self, text: str) -> torch.Tensor:
        if self.engine_apart:
            return self.style(text).result(timeout=120)
        if self._text is None:
            from ..model.text_encoder import shared_text_encoder
            self._text = shared_text_encoder()
        return self._text.embed([text])

    def stream(self, prompt=None, seed: int = 0, name: str | None = None, **kw) -> Stream:
        """A new stream, or with `name` the stream of that name (made once, updated after):
        re-running a patch changes its streams instead of piling up new ones."""
        self._touched.add(name)
        if name is not None and name in self._named:
            st = self._named[name]
            if prompt is not None and prompt != st.prompt:
                st.prompt = prompt
            return st
        st = Stream(self, prompt, seed=seed, **kw)
        if name is not None:
            self._named[name] = st
        return st

    def delay(self, prompt=None, blocks: int = 4, route: str = "sketch", strength: float = 0.5,
              feedback: float = 0.0, source=None, seed: int = 0, name: str | None = None, **kw) -> Delay:
        """A generative delay on the live input (or `source`), answering `blocks` blocks later."""
        self._touched.add(name)
        if name is not None and name in self._named:
            return self._named[name]
        d = Delay(self, prompt, blocks=blocks, route=route, strength=strength, feedback=feedback, source=source,
                  seed=seed, **kw)
        if name is not None:
            self._named[name] = d
        return d

    def midi(self, port=None, api: str = "auto", virtual: str | None = None, watch_seconds: float = 1.0):
        """MIDI input: a device by (part of) its name or index, or a `virtual` port of our own."""
        from .midi import Midi
        key = (port, api, virtual)
        for known, m in self._midi:
            if known == key:            # a patch run again gets the same connection
                return m
        m = Midi(self, api=api, watch_seconds=watch_seconds)
        if virtual is not None:
            m.open_virtual(virtual)
        elif port is not None:
            m.open(port)
        self._midi.append((key, m))
        return m

    @property
    def live_input(self):
        """The audio input (channel 1) as a pyo object, made once; NoAudioInputError, saying
        what to do, when the server has no input (offline, or a device that does not record)."""
        if self._input is None:
            from ..audio.server import open_input
            self._input = open_input(self.server, 0)
        return self._input

    def adapter(self, name: str | None):
        """Play through a fine-tuned adapter (by name), or back to the plain model with None.
        Takes effect at the next block of every stream."""
        if self.engine_apart:
            self.engine.adapter(name)
            self._adapter = name
            return
        from ..model import adapters
        self._adapter = adapters.switch(self.bundle.lmdm, self._adapter, name)

    def record(self, path, source=None):
        """Record what the listener hears (the master bus after its limiter, stereo, 32-bit
        float WAV) from now on, streams and effects added later included; or `source` alone.
        The file stays valid if the set crashes. `rec.stop()` ends it."""
        from ..audio.recorder import Recorder
        rec = Recorder(self.master.output if source is None else source, path).start()
        self._recorders.append(rec)
        return rec

    def begin_run(self) -> None:
        """Start counting which named streams a patch run touches (and what it sends to the master bus)."""
        self._touched = set()
        self.master.begin_run()

    def end_run(self) -> list[str]:
        """Stop the named streams the last run no longer mentions; returns their names."""
        gone = [n for n in self._named if n not in self._touched]
        for n in gone:
            self._named.pop(n).close()
        self.master.end_run()       # what the last run sent to the bus and this one did not
        return gone

    def keep_all(self) -> None:
        """A failed patch run: treat every named stream as mentioned, so none is stopped; the bus
        lets go only of what the failed run itself added."""
        self._touched = set(self._named)
        self.master.abort_run()

    @property
    def bpm(self) -> float:
        return self.clock.bpm

    # ---- playing with others: live/timebase.py, osc.py, link.py, midi_clock_out.py --------------

    @property
    def wallclock(self):
        """When samples are computed, in `time.monotonic()` seconds (live/timebase.py)."""
        if self._wallclock is None:
            from .timebase import WallClock
            self._wallclock = WallClock(self)
        return self._wallclock

    @property
    def nudge(self) -> float:
        """Seconds every sync output moves, later (positive) or earlier: sounds placed by OSC
        timetags, bars against the Link bar, MIDI clock ticks (docs/osc.md)."""
        return self.wallclock.nudge

    @nudge.setter
    def nudge(self, seconds) -> None:
        self.wallclock.nudge = seconds

    @property
    def latency(self) -> float:
        """Seconds added to OSC timetags, time for the model to answer an event (docs/osc.md)."""
        return self.wallclock.latency

    @latency.setter
    def latency(self, seconds) -> None:
        self.wallclock.latency = seconds

    @property
    def streams_by_name(self) -> dict:
        """The streams made with `name=`, by name: what OSC and saved MIDI mappings address."""
        return dict(self._named)

    def osc(self, port: int | None = None, host: str = "127.0.0.1"):
        """Listen for OSC (live/osc.py): `/lmdm/<stream>/<attribute> value` and SuperDirt's
        `/dirt/play`. `port` None: the port already listening (`--osc`), else 57120."""
        from .osc import DEFAULT_PORT, OscIn
        listening = [s for s in self._sync.values() if isinstance(s, OscIn)]
        if port is None and listening:
            return listening[0]
        key = ("osc", DEFAULT_PORT if port is None else port, host)
        if key not in self._sync or port == 0:
            made = OscIn(self, key[1], host)
            self._sync[key if port != 0 else ("osc", made.port, host)] = made
            return made
        return self._sync[key]

    def link(self, quantum: int | None = None):
        """Join an Ableton Link session (live/link.py; `pip install 'lmdmlive[link]'`)."""
        from .link import LinkSync
        if ("link",) not in self._sync:
            self._sync[("link",)] = LinkSync(self, quantum)
        return self._sync[("link",)]

    def midi_clock_out(self, port=None, virtual: str | None = None, api: str = "auto"):
        """MIDI clock (live/midi_clock_out.py) to an output by (part of) its name or index, or
        from a `virtual` port of our own ("lmdmlive clock" when neither is given)."""
        from .midi_clock_out import MidiClockOut
        key = ("midi clock", port, virtual, api)
        if key not in self._sync:
            self._sync[key] = MidiClockOut(self, port=port, virtual=virtual, api=api)
        return self._sync[key]

    def start(self) -> "Session":
        self.engine.start()
        return self

    def stop(self) -> None:
        for _, m in self._midi:
            m.close()
        for sync in self._sync.values():
            sync.close()
        self._sync = {}
        if self._wallclock is not None:
            self._wallclock.close()
            self._wallclock = None
        for rec in self._recorders:
            rec.stop()
        self.engine.stop()

    def hush(self, quant: str = "bar") -> int:
        """Stop every stream at the next bar (or beat, block, now), fading as `stop_at` does; each
        comes back with its own `play_at()` (or `play()`). Returns how many streams were stopped."""
        self.quantized(quant)                 # a bad quant raises before any stream is touched
        streams = [getattr(es.provider, "__self__", None) for es in list(self.engine.streams)]
        streams = [st for st in streams if isinstance(st, Stream)]
        for st in streams:
            st.stop_at(quant)
        return len(streams)

    def status(self, names: dict | None = None) -> str:
        """What plays, as text: each stream with its prompt, lanes, Params, state, underruns,
        and its level where the stream measures one. Streams are called by their `name=`, or
        by a name in `names` (e.g. the REPL's variables), else by their number."""
        from .param import Param
        streams = [getattr(es.provider, "__self__", None) for es in list(self.engine.streams)]
        streams = [st for st in streams if isinstance(st, Stream)]
        called = {id(st): name for name, st in {**(names or {}), **self._named}.items()}
        bar = self.cycle_now()
        lines = [f"{self.bpm:g} BPM, bar {int(bar) + 1}, {len(streams)} stream(s)"]
        for i, st in enumerate(streams):
            name = called.get(id(st), f"#{i + 1}")
            head = f"{name}: {type(st).__name__} {st.prompt!r} {'playing' if st.playing else 'stopped'}, " \
                   f"{st.underruns} underrun(s)"
            for what in ("level", "peak"):          # levels, when the stream measures them (dB)
                v = getattr(st, what, None)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    head += f", {what} {v:.1f} dB"
            lines.append(head)
            texts = getattr(st, "_lane_text", {})
            lanes = [f"{lane} {texts[lane]!r}" if lane in texts else f"{lane} {getattr(st, lane)!r}"
                     for lane in ("pitch", "loud", "bright", "rhythm") if getattr(st, lane) is not None]
            lines.append("    lanes: " + ("; ".join(lanes) or "none"))
            params = [(n, p) for n, p in vars(st).items() if isinstance(p, Param)] + list(st.arrangement.items())
            lines.append("    params: " + ", ".join(f"{n} {p.value:g}" + ("" if p.mode == "const" else f" ({p.mode})")
                                              for n, p in params))
        return "\n".join(lines)


class _SampleCounter:
    """The session's audio-thread hook: counts samples and runs actions scheduled for now."""

    __slots__ = ("samples", "step", "_due", "errors", "period", "missed", "_last")

    def __init__(self, step: int, period: float | None = None):
        self.samples, self.step = 0, step
        self._due: list = []
        self.errors = 0
        # on a real-time server: buffers the callback came too late for (it waited for the
        # interpreter's lock, or for a core), estimated from the time between calls
        self.period, self.missed, self._last = period, 0, None

    def schedule(self, sample: int, action) -> None:
        self._due = sorted(self._due + [(int(sample), id(action), action)], key=lambda x: x[:2])

    def __call__(self) -> None:
        if self.period is not None:
            now = time.perf_counter()
            if self._last is not None and now - self._last > 2.5 * self.period:
                self.missed += int((now - self._last) / self.period) - 1
            self._last = now
        end = self.samples + self.step
        while self._due and self._due[0][0] < end:
            (_, _, action), self._due = self._due[0], self._due[1:]
            try:
                action()
            except Exception as e:     # a scheduled action must not take the audio down
                self.errors += 1
                print(f"lmdmlive: scheduled action failed: {type(e).__name__}: {e}", file=sys.stderr)
        self.samples = end


def _c_server():
    """pyo's C-level server, the key CallbackHub uses (what PyoObject.getServer returns)."""
    import pyo
    return pyo.Sig(0).getServer()
