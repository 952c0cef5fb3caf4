"""`session.delay(...)`: a Stream whose conditions come from what was played into it.

Its own file because it is the one stream with a second source of time: the capture of
the live input, which the engine encodes and answers `blocks` blocks later.
"""
from __future__ import annotations

import pyo

from ..audio.server import MissingInput, NoAudioInputError
from .param import Param
from .stream import Stream


class Delay(Stream):
    """A generative delay: the live input (or any pyo object) answered `blocks` blocks later.

        >>> d = session.delay("glassy marimba", blocks=4, route="sketch").out()
        >>> d.feedback = 0.3               # its own output back into its input
        >>> d2 = session.delay(blocks=6, route="latent", strength=0.4).out()
        >>> d2.strength = 0                # gives back what was played, through the codec
    """

    MADE_WITH = Stream.MADE_WITH | {"strength", "blocks", "route", "capture"}

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

    def _more_controls(self, cycle) -> dict:
        return {"strength": float(self.strength.at(cycle))}


def _unit(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a number from 0 to 1, got {value!r}")
    return float(value)
