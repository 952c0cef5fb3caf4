"""The corpus on disk: FLAC audio, per-frame features, JSON-lines metadata, in shards.

    DIR/manifest.json                      what was built, with which seed and settings
    DIR/<split>/shard-00000.jsonl          one JSON object per clip, in build order
    DIR/<split>/shard-00000/<id>.flac      mono 16-bit audio at the corpus sample rate
    DIR/<split>/shard-00000/<id>.npz       sketch curves at the latent frame rate
                                           (loud dB, bright Hz, pitch MIDI, voiced, onset)

Splits: `train`, `heldout` (whole pieces kept out of training), `user` (corpus add).
A record is appended only after its files are written, so an interrupted build
resumes from the records it finds.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

SHARD_SIZE = 256
SPLITS = ("train", "heldout", "user")


def pcm16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")


def audio_hash(audio: np.ndarray) -> str:
    """SHA-256 of the 16-bit samples as stored: equal for equal audio, whatever the FLAC encoder did."""
    return hashlib.sha256(pcm16(audio).tobytes()).hexdigest()


def read_records(root: str | Path, split: str) -> list[dict]:
    root = Path(root) / split
    records = []
    for path in sorted(root.glob("shard-*.jsonl")):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    # A line cut by an interrupted write is the last one; the clip is rebuilt.
                    break
    return records


class ShardWriter:
    def __init__(self, root: str | Path, split: str, sample_rate: int):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits are {SPLITS}")
        self.root, self.split, self.sample_rate = Path(root), split, sample_rate
        self._repair()
        self.records = read_records(root, split)
        self.done = {r["id"] for r in self.records}

    def _repair(self) -> None:
        """Drop a record line cut short by an interrupted write, so appends start on a clean line."""
        for path in sorted((self.root / self.split).glob("shard-*.jsonl")):
            lines = path.read_text().splitlines()
            good = []
            for line in lines:
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    break
                good.append(line)
            if len(good) != len(lines) or (lines and not path.read_text().endswith("\n")):
                path.write_text("".join(line + "\n" for line in good))

    def add(self, record: dict, audio: np.ndarray, features: dict[str, np.ndarray]) -> dict:
        shard = f"shard-{len(self.records) // SHARD_SIZE:05d}"
        folder = self.root / self.split / shard
        folder.mkdir(parents=True, exist_ok=True)
        audio_path, feat_path = folder / f"{record['id']}.flac", folder / f"{record['id']}.npz"
        sf.write(audio_path, pcm16(audio), self.sample_rate, subtype="PCM_16")
        np.savez_compressed(feat_path, **features)
        record = dict(record, split=self.split,
                      audio=str(audio_path.relative_to(self.root)), features=str(feat_path.relative_to(self.root)),
                      audio_sha256=audio_hash(audio))
        with open(self.root / self.split / f"{shard}.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)
        self.done.add(record["id"])
        return record


def load_audio(root: str | Path, record: dict) -> np.ndarray:
    audio, _ = sf.read(Path(root) / record["audio"], dtype="float32")
    return audio


def load_features(root: str | Path, record: dict) -> dict[str, np.ndarray]:
    with np.load(Path(root) / record["features"]) as z:
        return {k: z[k] for k in z.files}
