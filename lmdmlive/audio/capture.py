"""Capture: what a pyo object plays, handed to Python in chunks without touching the callback.

`TableFill` copies the source into a ring table as the server runs; `read()` returns
the samples written since the last read. Nothing runs in the audio callback but
pyo's own C code, so a slow reader costs nothing until it falls a whole ring behind
(`ring_seconds`; then the oldest samples are lost).

    >>> cap = Capture()                  # pyo.Input(0): the live input
    >>> chunk = cap.read()               # numpy float32, at the server's rate

The recorder writes such chunks to a file; the generative delay encodes them.
With `channels=2` each stream of the source fills its own channel of the ring and
`read()` returns (samples, 2) frames.
"""
from __future__ import annotations

import threading

import numpy as np
import pyo

from .player import keep_alive


class Capture:
    def __init__(self, source: pyo.PyoObject | None = None, ring_seconds: float = 8.0, channel: int = 0,
                 channels: int = 1):
        server = pyo.Sig(0).getServer()
        self.sample_rate = int(server.getSamplingRate())
        self.source = source if source is not None else pyo.Input(chnl=channel)
        self.size = int(ring_seconds * self.sample_rate)
        self.channels = int(channels)
        self._table = pyo.DataTable(size=self.size, chnls=self.channels)
        self._fill = pyo.TableFill(self.source, self._table)
        # One view of the table's memory for the capture's whole life, instead of a new
        # buffer object from pyo at every read (from the engine thread, while the audio
        # thread writes). The table is never freed (below), so the views never outlive it.
        self._views = [np.asarray(self._table.getBuffer(c)) for c in range(self.channels)]
        # The channels fill in order within a buffer: where the last one is, all have been.
        self._last = self._fill[self.channels - 1]
        keep_alive(self._fill, self._table, self.source, self._views)   # freeing the table first crashes pyo
        self._pos = self._last.getCurrentPos()
        self._lock = threading.Lock()
        self.samples = 0
        self.closed = False

    def read(self) -> np.ndarray:
        """The samples captured since the last read (a copy, float32): shape (n,) for one
        channel, (n, channels) for more."""
        with self._lock:
            if self.closed:
                return np.zeros(0 if self.channels == 1 else (0, self.channels), dtype=np.float32)
            pos = self._last.getCurrentPos()
            chunks = []
            for view in self._views:
                if pos >= self._pos:
                    chunks.append(view[self._pos:pos].copy())
                else:
                    chunks.append(np.concatenate([view[self._pos:], view[:pos]]))
            self._pos = pos
            chunk = chunks[0] if self.channels == 1 else np.stack(chunks, axis=1)
            self.samples += len(chunk)
            return chunk.astype(np.float32, copy=False)

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self._fill.stop()
                self.closed = True
