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

    def stream(self, prompt=None, seed: int = 0, **kw) -> Stream:
        return Stream(self, prompt, seed=seed, **kw)

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
