"""Capture: what a pyo object plays, handed to Python in chunks without touching the callback.

`TableFill` copies the source into a ring table as the server runs; `read()` returns
the samples written since the last read. Nothing runs in the audio callback but
pyo's own C code, so a slow reader costs nothing until it falls a whole ring behind
(`ring_seconds`; then the oldest samples are lost).

    >>> cap = Capture()                  # pyo.Input(0): the live input
    >>> chunk = cap.read()               # numpy float32, at the server's rate

The recorder writes such chunks to a file; the generative delay encodes them.
"""
from __future__ import annotations

import threading

import numpy as np
import pyo

from .player import keep_alive


class Capture:
    def __init__(self, source: pyo.PyoObject | None = None, ring_seconds: float = 8.0, channel: int = 0):
        server = pyo.Sig(0).getServer()
        self.sample_rate = int(server.getSamplingRate())
        self.source = source if source is not None else pyo.Input(chnl=channel)
        self.size = int(ring_seconds * self.sample_rate)
        self._table = pyo.DataTable(size=self.size)
        self._fill = pyo.TableFill(self.source, self._table)
        # One view of the table's memory for the capture's whole life, instead of a new
        # buffer object from pyo at every read (from the engine thread, while the audio
        # thread writes). The table is never freed (below), so the view never outlives it.
        self._view = np.asarray(self._table.getBuffer())
        keep_alive(self._fill, self._table, self.source, self._view)   # freeing the table first crashes pyo
        self._pos = self._fill.getCurrentPos()
        self._lock = threading.Lock()
        self.samples = 0
        self.closed = False

    def read(self) -> np.ndarray:
        """The samples captured since the last read (a copy, float32)."""
        with self._lock:
            if self.closed:
                return np.zeros(0, dtype=np.float32)
            pos = self._fill.getCurrentPos()
            view = self._view
            if pos >= self._pos:
                chunk = view[self._pos:pos].copy()
            else:
                chunk = np.concatenate([view[self._pos:], view[:pos]])
            self._pos = pos
            self.samples += len(chunk)
            return chunk.astype(np.float32, copy=False)

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self._fill.stop()
                self.closed = True
