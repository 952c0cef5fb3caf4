"""A generated stream as a pyo object.

    >>> s = boot_server("manual"); s.start()
    >>> player = StreamPlayer()            # the engine writes into player.ring
    >>> wet = pyo.Freeverb(player, size=0.8).out()

At the start of every buffer the server's callback pulls exactly one buffer from the
ring into a one-buffer table, which a looping `TableRead` plays in the same buffer, so
what the engine wrote comes out sample for sample. Everything pyo offers (`out`,
`play`, `stop`, `mul`, `add`, arithmetic, being the input of any effect) comes from
`PyoObject`.
"""
from __future__ import annotations

import numpy as np
import pyo

from .ring import AudioRing
from .server import CallbackHub


# pyo objects of every player ever made. When Python's cycle collector frees a player,
# it may free the table before the TableRead that reads it, and pyo then reads freed
# memory at the next buffer (seen as crashes at random later pyo calls). A player's
# reader and table are a few kilobytes, so they are simply never freed.
_KEEP_ALIVE: list = []


def keep_alive(*objects) -> None:
    """Never free these pyo objects: one that reads another must not outlive it, and the
    cycle collector frees them in any order. For the few objects each stream or capture owns."""
    _KEEP_ALIVE.append(objects)


class _Pull:
    """The per-buffer hook. It holds the table as well as the numpy view of its memory:
    the view alone does not keep pyo's table alive, and writing into a freed table
    corrupts the process."""

    __slots__ = ("ring", "buffer", "table")

    def __init__(self, ring: AudioRing, buffer: np.ndarray, table):
        self.ring, self.buffer, self.table = ring, buffer, table

    def __call__(self) -> None:
        self.ring.pull(self.buffer)


class StreamPlayer(pyo.PyoObject):
    """Plays the audio an engine stream writes into `ring`; a pyo object like any other."""

    def __init__(self, ring_seconds: float = 8.0, fade_ms: float = 5.0, mul=1, add=0, shared: bool = False):
        pyo.PyoObject.__init__(self, mul, add)
        server = pyo.Sig(0).getServer()
        sr, bs = int(server.getSamplingRate()), int(server.getBufferSize())
        self.sample_rate, self.buffer_size = sr, bs
        # shared: the ring lives in shared memory, written by a generating process of its own
        make = AudioRing.shared if shared else AudioRing
        self.ring = make(int(ring_seconds * sr), fade=max(1, int(fade_ms * sr / 1000)))
        self._table = pyo.DataTable(size=bs)
        self._reader = pyo.TableRead(self._table, freq=self._table.getRate(), loop=1, interp=1, mul=mul, add=add)
        self._reader.play()
        keep_alive(self._reader, self._table)
        self._base_objs = self._reader.getBaseObjects()
        self._hub = CallbackHub.of(server)
        # Only the hook holds a numpy view of the table's memory, and it releases the view
        # before the table: a view that outlives a pyo table crashes the process.
        self._hook = _Pull(self.ring, np.asarray(self._table.getBuffer()), self._table)
        self._hub.add(self._hook)

    def close(self) -> None:
        """Stop pulling from the ring (the engine calls this when a stream is removed)."""
        self._hub.remove(self._hook)
        self.stop()

    @property
    def underruns(self) -> int:
        return self.ring.underruns

    def play(self, dur=0, delay=0):
        self._reader.play(dur, delay)
        return pyo.PyoObject.play(self, dur, delay)
