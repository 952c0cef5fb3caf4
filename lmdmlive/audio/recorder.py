"""A recorder that writes what it hears to a WAV file continuously.

A `Capture` taps the source; a thread (or `flush()`) moves the new samples into the
file every few tens of milliseconds.
Python's `wave` module rewrites the header's sizes on every write, so if the process
dies mid-set the file up to the last flush is a valid, playable WAV.

    >>> rec = Recorder(mix, "set.wav").start()
    >>> ...
    >>> rec.stop()
"""
from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np
import pyo

from .capture import Capture


class Recorder:
    def __init__(self, source: pyo.PyoObject, path: str | Path, ring_seconds: float = 4.0, interval: float = 0.05):
        self.path = Path(path)
        self._capture = Capture(source, ring_seconds)
        self.sample_rate = self._capture.sample_rate
        self._file = wave.open(str(self.path), "wb")
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(self.sample_rate)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self.frames = 0

    def flush(self) -> int:
        """Move the samples recorded since the last flush into the file; returns how many."""
        with self._lock:
            if self._file is None:
                return 0
            chunk = self._capture.read()
            if len(chunk):
                pcm = np.clip(np.round(chunk * 32767.0), -32768, 32767).astype("<i2")
                self._file.writeframes(pcm.tobytes())
                self.frames += len(chunk)
            return len(chunk)

    def start(self) -> "Recorder":
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="lmdmlive-recorder", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        import time
        while self._running:
            self.flush()
            time.sleep(0.05)

    def stop(self) -> Path:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()
        with self._lock:
            self._capture.close()
            self._file.close()
            self._file = None
        return self.path
