"""A recorder that writes what it hears to a WAV file continuously.

A `Capture` taps the source (every channel of it: the master bus records in stereo); a
thread (or `flush()`) moves the new samples into the file every few tens of
milliseconds, as 32-bit float (or 24-bit) WAV. The header's sizes are rewritten after
every write, so if the process dies mid-set the file up to the last flush is a valid,
playable WAV.

    >>> rec = Recorder(session.master.output, "set.wav").start()
    >>> ...
    >>> rec.stop()
"""
from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np
import pyo

from .capture import Capture


class WavWriter:
    """A WAV file written in pieces whose header always counts what is on disk.

    `subtype` "float" (32-bit IEEE float, the default: nothing is rounded, nothing clips)
    or "pcm24". Data goes to disk first, then the header's sizes, then both are flushed."""

    def __init__(self, path: str | Path, sample_rate: int, channels: int, subtype: str = "float"):
        if subtype not in ("float", "pcm24"):
            raise ValueError(f"WAV subtype {subtype!r}: choose 'float' or 'pcm24'")
        self.path, self.sample_rate, self.channels, self.subtype = Path(path), int(sample_rate), int(channels), subtype
        self.width = 4 if subtype == "float" else 3
        self.frames = 0
        self._f = open(self.path, "wb")
        self._f.write(self._header())
        self._f.flush()

    def _header(self) -> bytes:
        data = self.frames * self.channels * self.width
        block = self.channels * self.width
        if self.subtype == "float":          # WAVE_FORMAT_IEEE_FLOAT wants cbSize and a fact chunk
            fmt = struct.pack("<HHIIHHH", 3, self.channels, self.sample_rate, self.sample_rate * block, block, 32, 0)
            extra = b"fact" + struct.pack("<II", 4, self.frames)
        else:
            fmt = struct.pack("<HHIIHH", 1, self.channels, self.sample_rate, self.sample_rate * block, block, 24)
            extra = b""
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", data)
        return b"RIFF" + struct.pack("<I", len(body) + data) + body

    def write(self, frames: np.ndarray) -> None:
        """Append (n,) or (n, channels) float samples."""
        x = np.asarray(frames, dtype=np.float32).reshape(-1, self.channels)
        if not len(x):
            return
        if self.subtype == "float":
            raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
        else:
            ints = np.clip(np.round(x.astype(np.float64) * 8388607.0), -8388608, 8388607).astype("<i4")
            raw = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        self._f.seek(0, 2)
        self._f.write(raw)
        self.frames += len(x)
        self._f.seek(0)
        self._f.write(self._header())
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


class Recorder:
    """Writes `source` (all its channels) to a WAV file from now on, as it plays."""

    def __init__(self, source: pyo.PyoObject, path: str | Path, ring_seconds: float = 4.0, interval: float = 0.05,
                 subtype: str = "float"):
        self.path = Path(path)
        self.channels = max(1, len(source.getBaseObjects()))
        self.interval = float(interval)
        self._capture = Capture(source, ring_seconds, channels=self.channels)
        self.sample_rate = self._capture.sample_rate
        self._file = WavWriter(self.path, self.sample_rate, self.channels, subtype)
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
                self._file.write(chunk)
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
            time.sleep(self.interval)

    def stop(self) -> Path:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()
        with self._lock:
            self._capture.close()
            if self._file is not None:      # stopping twice (by hand, then with the session) is fine
                self._file.close()
                self._file = None
        return self.path
