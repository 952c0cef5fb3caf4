"""`lmdmlive corpus add FOLDER`: a performer's own audio as corpus clips.

Whatever soundfile reads (wav, flac, ogg, mp3) becomes mono audio at the corpus rate
with the same features as rendered clips. The caption comes from a sidecar text file
(`NAME.txt` beside `NAME.wav`) when there is one, else from the folder and file
names. A file that cannot be read is named, with the reason, and the rest carry on.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .build import FRAME_RATE, SAMPLE_RATE, write_manifest
from ...model.features import sketch_features
from .shards import ShardWriter

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".oga"}
MIN_SECONDS = 0.5


def caption_for(path: Path, root: Path) -> str:
    sidecar = path.with_suffix(".txt")
    if sidecar.exists():
        text = " ".join(sidecar.read_text(errors="replace").split())
        if text:
            return text
    parts = list(path.relative_to(root).parent.parts) + [path.stem]
    words = [re.sub(r"[_\-.]+", " ", p).strip() for p in parts]
    return ", ".join(w for w in words if w) or path.stem


def add_folder(folder: str | Path, out: str | Path, log=print, progress=None) -> dict:
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    writer = ShardWriter(out, "user", SAMPLE_RATE)
    added, failed = 0, []
    hop = SAMPLE_RATE // FRAME_RATE
    for i, path in enumerate(files, 1):
        try:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            audio = audio.mean(axis=1)
            if rate != SAMPLE_RATE:
                audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
            audio = audio[: len(audio) // hop * hop]
            if len(audio) < MIN_SECONDS * SAMPLE_RATE:
                raise ValueError(f"shorter than {MIN_SECONDS} s")
            if not np.isfinite(audio).all():
                raise ValueError("holds NaN or infinite samples")
        except Exception as e:    # soundfile raises several kinds; each file is reported and skipped
            failed.append((str(path), f"{type(e).__name__}: {e}"))
            log(f"skipped {path}: {e}")
            continue
        clip_id = "user-" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
        if clip_id in writer.done:
            continue
        text = caption_for(path, folder)
        seconds = len(audio) / SAMPLE_RATE
        meta = {"id": clip_id, "piece": f"user/{path.relative_to(folder)}", "source": "user", "family": "user",
                "style": text, "title": path.stem, "composer": "", "collection": str(folder.name), "tempo": 0.0,
                "key": "", "transpose": 0, "programs": [], "instruments": [], "groups": {}, "mood": "",
                "density": 0.0, "seconds": round(seconds, 3), "sample_rate": SAMPLE_RATE, "frame_rate": FRAME_RATE,
                "captions": [text], "unseen_caption": text, "mix": {}, "origin": str(path)}
        writer.add(meta, audio, sketch_features(audio, SAMPLE_RATE, hop))
        added += 1
        if progress is not None:
            progress(i, len(files))
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        import json
        m = json.loads(manifest_path.read_text())
        write_manifest(out, m.get("seed", 0), m.get("hours_requested", 0))
    else:
        write_manifest(out, 0, 0)
    return {"added": added, "failed": failed, "files": len(files)}
