"""Prompt: what a stream should sound like, as text (or a clip), blended by weights.

    >>> a.prompt = "warm ambient pads"
    >>> a.prompt = Prompt("deep house") * 0.7 + Prompt("jazz piano") * 0.3
    >>> a.morph("dark techno", bars=8)     # glide there over eight bars

A prompt becomes one style vector: the weighted sum of its parts' embeddings,
scaled back to unit length (the length the model was trained on). Text goes
through the MiniLM encoder shipped with the package; a clip (`Prompt(audio="loop.wav")`)
through the codec and the audio-prompt encoder, trained into the same space.
"""
from __future__ import annotations

import math
from concurrent.futures import Future
from fractions import Fraction
from pathlib import Path

import torch

from ..engine.controls import Glide
from ..engine.style import StyleError, blend


class PromptError(ValueError):
    pass


class Prompt:
    """What a stream should sound like: text or an audio clip, blended by weights.

        >>> a = session.stream(Prompt("deep house") * 0.7 + Prompt("jazz piano") * 0.3)
        >>> a.prompt = Prompt(audio="my_loop.wav") * 0.5 + "dark techno"
        >>> a.morph("warm ambient pads", bars=8)   # glide the style there over eight bars
    """

    def __init__(self, text: str | None = None, *, audio=None, weight: float = 1.0):
        if audio is not None:
            if text is not None:
                raise PromptError("a Prompt is text or audio; blend the two with +")
            path = Path(audio)
            if not path.is_file():
                raise PromptError(f"audio prompt {audio!r}: no such file")
            self.parts = [(AudioClip(path), _weight(weight))]
            return
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"a prompt is non-empty text (or audio=PATH), got {text!r}")
        self.parts = [(text, _weight(weight))]

    @classmethod
    def _of(cls, parts):
        p = cls.__new__(cls)
        p.parts = list(parts)
        return p

    @classmethod
    def coerce(cls, value) -> "Prompt":
        if isinstance(value, Prompt):
            return value
        if isinstance(value, str):
            return cls(value)
        raise PromptError(f"a prompt is text or a Prompt, got {type(value).__name__}")

    def __add__(self, other) -> "Prompt":
        return Prompt._of(self.parts + Prompt.coerce(other).parts)

    __radd__ = lambda self, other: Prompt.coerce(other) + self   # noqa: E731  ("a" + Prompt("b"))

    def __mul__(self, w) -> "Prompt":
        w = _weight(w)
        return Prompt._of([(t, x * w) for t, x in self.parts])

    __rmul__ = __mul__

    def engine_parts(self) -> list[tuple[str, str, float]]:
        """The parts as plain values the engine blends: ("text", words, w) or ("audio", path, w)."""
        return [("audio", str(part.path), w) if isinstance(part, AudioClip) else ("text", part, w)
                for part, w in self.parts]

    def vector(self, embed, embed_audio=None) -> torch.Tensor:
        """(1, dim) unit-length blend of the parts' embeddings; `embed(text)` and
        `embed_audio(path)` each give (1, dim) in the same space."""
        try:
            return blend(self.engine_parts(), embed, embed_audio)
        except StyleError as e:
            raise PromptError(str(e)) from None

    def __repr__(self) -> str:
        def one(part):
            return f"Prompt({part})" if isinstance(part, AudioClip) else f"Prompt({part!r})"
        if len(self.parts) == 1 and self.parts[0][1] == 1.0:
            return one(self.parts[0][0])
        return " + ".join(f"{w:g} * {one(t)}" for t, w in self.parts)

    def __eq__(self, other) -> bool:
        return isinstance(other, Prompt) and self.parts == other.parts

    def __hash__(self):
        return hash(tuple(self.parts))


class AudioClip:
    """An audio prompt's part: the file, embedded when the prompt is used."""

    def __init__(self, path: Path):
        self.path = path

    def __repr__(self) -> str:
        return f"audio={str(self.path)!r}"

    def __eq__(self, other) -> bool:
        return isinstance(other, AudioClip) and other.path == self.path

    def __hash__(self):
        return hash(self.path)


class Morph:
    """A glide between two style vectors over a span of cycles (then the target holds), kept at
    unit length; either end may still be a future of its vector (see `ready_vector`)."""

    def __init__(self, start: torch.Tensor, end: torch.Tensor, first: Fraction, last: Fraction):
        self.start, self.end, self.first, self.last = start, end, first, last

    def at(self, cycle) -> torch.Tensor | None:
        """The vector at `cycle`; None while an end is still being embedded (see `ready_vector`)."""
        start, end = ready_vector(self.start), ready_vector(self.end)
        c = Fraction(cycle)
        if end is None or (start is None and c < self.last):
            return None
        if c >= self.last:
            return end
        v = Glide(start, end, self.first, self.last).at(c)
        return v / v.norm().clamp_min(1e-8)

    def done(self, cycle) -> bool:
        return Fraction(cycle) >= self.last


def ready_vector(value):
    """A style vector, or None while its embedding is still on its way.

    An engine in its own process embeds prompts there and answers with a future, so
    that typing a prompt never waits for the text encoder; a failed embedding raises
    here, where the stream can keep its previous prompt.
    """
    if isinstance(value, Future):
        return value.result() if value.done() else None
    return value


def _weight(w) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise PromptError(f"a prompt weight is a number of at least 0, got {w!r}")
    return float(w)
