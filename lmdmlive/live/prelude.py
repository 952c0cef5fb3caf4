"""Everything a performer types without importing: `from lmdmlive.live.prelude import *`.

Patterns (mini, sine, saw, ...), note helpers, pyo's effects, `Prompt`, `Param` and
`Session`; in the REPL and in patches also `session`, `stream`, `delay`, `midi`,
`live_input` (the audio input, a pyo object), `hush()` (stop every stream at the next bar)
and `status()` (print what plays).
"""
from pyo import (Biquad, Chorus, Clip, Delay, Disto, Freeverb, Harmonizer, Mix, Pan, SigTo, STRev,  # noqa: F401
                 WGVerb)

from ..pattern import (cat, cosine, euclid, fastcat, isaw, mini, pure, rand, saw, sequence, silence, sine,  # noqa
                       slowcat, square, stack, tri)
from ..pattern.notes import degree, note, scale_degrees, to_scale  # noqa: F401
from .param import Param  # noqa: F401
from .prompt import Prompt  # noqa: F401
from .session import Session  # noqa: F401

__all__ = [name for name in dir() if not name.startswith("_")]


def namespace(session) -> dict:
    """What the REPL and patch files see: this module's names, `session`, `stream`, `hush`, `status`."""
    import sys
    module = sys.modules[__name__]
    ns = {name: getattr(module, name) for name in __all__}
    ns.update(session=session, stream=session.stream, delay=session.delay, midi=session.midi,
              live_input=_input_or_missing(session))

    def hush(quant: str = "bar") -> None:
        """Stop every stream at the next bar; `a.play_at()` brings one back."""
        session.hush(quant)

    def status() -> None:
        """Print what plays: each stream's prompt, lanes, Params, state, underruns."""
        from .stream import Stream
        print(session.status({k: v for k, v in ns.items() if isinstance(v, Stream) and not k.startswith("_")}))

    ns.update(hush=hush, status=status)
    return ns



def _input_or_missing(session):
    from ..audio.server import MissingInput, NoAudioInputError
    try:
        return session.live_input
    except NoAudioInputError as e:        # the REPL or patch still starts; the input says why it is silent
        return MissingInput(e)
