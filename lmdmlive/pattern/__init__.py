"""Mini-notation and the Pattern algebra (pure Python: no audio, no torch, nothing of ours).

    >>> from lmdmlive.pattern import mini
    >>> [(str(h.whole.begin), h.value) for h in mini("c4 [e4 g4]").query(0, 1)]
    [('0', 'c4'), ('1/2', 'e4'), ('3/4', 'g4')]
"""
from .core import (F, Hap, Pattern, Span, cat, fastcat, patterned, polymeter, pure, reify, sequence, silence,
                   slowcat, stack, time_rand, timecat)
from .euclidean import bjorklund, euclid
from .mini import MiniNotationError, mini
from .signals import cosine, isaw, rand, saw, signal, sine, square, tri

__all__ = [
    "F", "Hap", "MiniNotationError", "Pattern", "Span", "bjorklund", "cat", "cosine", "euclid", "fastcat", "isaw",
    "mini", "patterned", "polymeter", "pure", "rand", "reify", "saw", "sequence", "signal", "silence", "sine",
    "slowcat", "square", "stack", "time_rand", "timecat", "tri",
]
