"""Training crops for the codec: random fixed-length stretches of corpus audio, some of them tones.

Read straight from the FLAC files, a crop at a time: the 30 h corpus does not fit in
memory as float32, and a seek into a FLAC file costs less than the step it feeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .corpus.shards import read_records
from .splits import eval_split_of, piece_of
from .tones import MUSIC_UNDER, tone_crop


class CropSampler:
    """Random fixed-length crops from a corpus split, read straight from the FLAC files; `tones` of
    them (a share) a tone of known f0 over the crop's music, turned down or away (train/tones.py)."""

    def __init__(self, corpus: Path, split: str, samples: int, seed: int, eval_split: str | None = None,
                 tones: float = 0.0):
        self.corpus = Path(corpus)
        self.records = [r for r in read_records(corpus, split) if r["seconds"] * r["sample_rate"] > samples
                        and (eval_split is None or eval_split_of(piece_of(r)) == eval_split)]
        if not self.records:
            raise FileNotFoundError(f"{corpus}: no {split} clips longer than {samples} samples; "
                                    "run `lmdmlive corpus build` first")
        self.weights = np.array([r["seconds"] for r in self.records])
        self.weights /= self.weights.sum()
        self.samples = samples
        self.tones = tones
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> torch.Tensor:
        out = np.zeros((size, self.samples), dtype=np.float32)
        for i in range(size):
            tone = bool(self.tones) and self.rng.random() < self.tones      # no draw at all without tones
            under = (self.rng.uniform(*MUSIC_UNDER) if self.rng.random() < 0.5 else 0.0) if tone else 1.0
            for _ in range(8 if under else 0):     # skip near-silent crops: they teach nothing
                rec = self.records[self.rng.choice(len(self.records), p=self.weights)]
                total = int(rec["seconds"] * rec["sample_rate"])
                start = int(self.rng.integers(0, total - self.samples))
                with sf.SoundFile(self.corpus / rec["audio"]) as f:
                    f.seek(start)
                    crop = f.read(self.samples, dtype="float32")
                if len(crop) == self.samples and np.sqrt(np.mean(crop ** 2)) > 1e-3:
                    break
            if under:                              # a tone alone reads no music it would throw away
                out[i, :len(crop)] = crop[: self.samples]
            if tone:
                out[i] = tone_crop(self.rng, self.samples, self.records[0]["sample_rate"])[0] + under * out[i]
        return torch.from_numpy(out)
