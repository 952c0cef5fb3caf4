"""Session: owns the audio server, the clock, the model and the engine; makes streams."""
from __future__ import annotations

import math
import sys
from fractions import Fraction

import torch

from ..audio.server import CallbackHub, boot_server
from ..engine.clock import Clock
from ..engine.worker import Engine
from ..model.default import ModelBundle, load_default
from .stream import Delay, Stream


class Session:
    def __init__(self, audio: str = "auto", bpm: float = 120, bundle: ModelBundle | None = None, server=None,
                 text_encoder=None, **engine_kwargs):
        self.server = server if server is not None else boot_server(audio)
        if server is None:
            self.server.start()
        self.sample_rate = int(self.server.getSamplingRate())
        self.bundle = bundle or load_default()
        self.clock = Clock(bpm, 4, self.sample_rate)
        self.engine = Engine(self.bundle, self.sample_rate, **engine_kwargs)
        self._text = text_encoder
        self._named: dict[str, Stream] = {}
        self._touched: set = set()
        self._midi: list = []
        self._input = None
        self._audio_encoder = None
        self._recorders: list = []
        self._adapter = None
        self._counter = _SampleCounter(int(self.server.getBufferSize()))
        CallbackHub.of(_c_server()).add(self._counter)

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

    def embed_audio(self, path) -> torch.Tensor:
        """(1, 384) style vector of an audio file: up to its first 30 s, through the codec and
        the audio-prompt encoder, averaged over 5 s windows."""
        import numpy as np
        import soundfile as sf
        import soxr

        from ..model.default import load_audio_prompt_encoder
        if self._audio_encoder is None:
            self._audio_encoder = load_audio_prompt_encoder()
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:
            raise ValueError(f"audio prompt {str(path)!r}: cannot read it ({e})") from None
        codec = self.bundle.codec
        audio = soxr.resample(audio.mean(axis=1), rate, codec.cfg.sample_rate)[: 30 * codec.cfg.sample_rate]
        audio = np.ascontiguousarray(audio[: len(audio) // codec.cfg.hop * codec.cfg.hop], dtype=np.float32)
        if len(audio) < codec.cfg.sample_rate:
            raise ValueError(f"audio prompt {str(path)!r}: shorter than one second")
        with torch.no_grad():
            z = codec.encode(torch.from_numpy(audio)[None])
            windows = [z[:, i:i + 125] for i in range(0, max(1, z.shape[1] - 124), 125)]
            v = torch.stack([self._audio_encoder(w)[0] for w in windows]).mean(0, keepdim=True)
        return v / v.norm().clamp_min(1e-8)

    def embed(self, text: str) -> torch.Tensor:
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
        """The audio input (channel 1) as a pyo object, made once."""
        if self._input is None:
            import pyo
            self._input = pyo.Input(chnl=0)
        return self._input

    def adapter(self, name: str | None):
        """Play through a fine-tuned adapter (by name), or back to the plain model with None.
        Takes effect at the next block of every stream."""
        from ..model import adapters
        if self._adapter is not None:
            adapters.apply(self.bundle.lmdm, self._adapter, sign=-1.0)
            self._adapter = None
        if name is not None:
            adapters.apply(self.bundle.lmdm, name)
            self._adapter = name

    def record(self, path, source=None):
        """Record `source` (by default every stream, mixed) to a WAV file as it plays; the file
        stays valid if the set crashes. Effects made after a stream are recorded when passed
        as the source (pyo has no tap on the server's own output)."""
        import pyo

        from ..audio.recorder import Recorder
        if source is None:
            players = [s.player for s in self.engine.streams]
            if not players:
                raise ValueError("nothing to record yet: make a stream first, or pass a source")
            source = pyo.Mix(players, voices=1)
        rec = Recorder(source, path).start()
        self._recorders.append(rec)
        return rec

    def begin_run(self) -> None:
        """Start counting which named streams a patch run touches."""
        self._touched = set()

    def end_run(self) -> list[str]:
        """Stop the named streams the last run no longer mentions; returns their names."""
        gone = [n for n in self._named if n not in self._touched]
        for n in gone:
            self._named.pop(n).close()
        return gone

    def keep_all(self) -> None:
        """A failed patch run: treat every named stream as mentioned, so none is stopped."""
        self._touched = set(self._named)

    @property
    def bpm(self) -> float:
        return self.clock.bpm

    def start(self) -> "Session":
        self.engine.start()
        return self

    def stop(self) -> None:
        for _, m in self._midi:
            m.close()
        for rec in self._recorders:
            rec.stop()
        self.engine.stop()


class _SampleCounter:
    """The session's audio-thread hook: counts samples and runs actions scheduled for now."""

    __slots__ = ("samples", "step", "_due", "errors")

    def __init__(self, step: int):
        self.samples, self.step = 0, step
        self._due: list = []
        self.errors = 0

    def schedule(self, sample: int, action) -> None:
        self._due = sorted(self._due + [(int(sample), id(action), action)], key=lambda x: x[:2])

    def __call__(self) -> None:
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
