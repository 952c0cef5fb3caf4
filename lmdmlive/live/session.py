"""Session: owns the audio server, the clock, the model and the engine; makes streams."""
from __future__ import annotations

import torch

from ..audio.server import CallbackHub, boot_server
from ..engine.clock import Clock
from ..engine.worker import Engine
from ..model.default import ModelBundle, load_default
from .stream import Stream


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
        self._counter = _SampleCounter(int(self.server.getBufferSize()))
        CallbackHub.of(_c_server()).add(self._counter)

    def now(self) -> int:
        """Samples the server has played since the session began: the clock's time."""
        return self._counter.samples

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
        self.engine.stop()


class _SampleCounter:
    __slots__ = ("samples", "step")

    def __init__(self, step: int):
        self.samples, self.step = 0, step

    def __call__(self) -> None:
        self.samples += self.step


def _c_server():
    """pyo's C-level server, the key CallbackHub uses (what PyoObject.getServer returns)."""
    import pyo
    return pyo.Sig(0).getServer()
