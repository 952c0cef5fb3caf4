"""The corpus as the diffusion model sees it: codec latents, sketch curves and caption embeddings.

Encoding 20 hours of audio takes minutes, and every training step would otherwise
redo it, so it is done once per codec and kept beside the corpus:

    CORPUS/latents-<codec hash>/<split>.safetensors   latents (F, D) float32, curves (F, 5)
                                                      float32 in feature units, offsets (n + 1,)
    CORPUS/latents-<codec hash>/<split>.json          one entry per clip (id, piece, family,
                                                      captions as rows of the caption table,
                                                      arrangement controls)
    CORPUS/latents-<codec hash>/captions.safetensors  (n, 384) MiniLM embeddings of every caption
    CORPUS/latents-<codec hash>/captions.json         their texts, in row order

The folder name carries a hash of the codec's encoder weights: latents of another
encoder are never mixed in by mistake, and a codec whose decoder alone was retrained
shares the store. Train latents' per-channel mean and spread are stored too; the
model standardises with them and ships them in its checkpoint.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..model import Codec, load_codec
from ..model.config import SKETCH_CURVES
from ..model.conditioning import arrangement_from_record
from .corpus.shards import load_audio, load_features, read_records

ENCODE_SECONDS = 60.0     # long clips are encoded in pieces of this length (exact: the encoder is causal)


def encoder_digest(codec: Codec) -> str:
    """Hash of the encoder's weights alone: a codec whose decoder was trained further
    (`train codec --freeze-encoder`) gives the same latents and shares the store."""
    h = hashlib.sha256()
    for name, t in sorted(codec.state_dict().items()):
        if name.startswith("enc_"):
            h.update(name.encode())
            h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def store_dir(corpus: Path, codec_path: Path) -> Path:
    return Path(corpus) / f"latents-{encoder_digest(load_codec(codec_path))[:12]}"


def _clip_entry(rec: dict, caption_rows: list[int], unseen_row: int | None, arrangement: list[float]) -> dict:
    return {"id": rec["id"], "piece": rec.get("piece", rec["id"]), "family": rec.get("family", rec.get("style", "")),
            "captions": caption_rows, "unseen_caption": unseen_row, "arrangement": arrangement,
            "tempo": rec.get("tempo"), "groups": rec.get("groups"), "instruments": rec.get("instruments", []),
            "programs": rec.get("programs", []), "source": rec.get("source")}


@torch.no_grad()
def _encode(codec: Codec, audio: np.ndarray) -> torch.Tensor:
    hop = codec.cfg.hop
    audio = audio[: len(audio) // hop * hop]
    enc = codec.stream_encoder()
    piece = int(ENCODE_SECONDS * codec.cfg.sample_rate) // hop * hop
    parts = [enc(torch.from_numpy(np.ascontiguousarray(audio[i:i + piece]))[None])[0]
             for i in range(0, len(audio), piece)]
    return torch.cat(parts) if parts else torch.zeros(0, codec.cfg.latent_dim)


def build_store(corpus: Path, codec_path: Path, splits=("train", "heldout"), embed=None, progress=None,
                log=print) -> Path:
    """Encode every clip of `splits` once (skipping splits already stored) and embed the captions."""
    corpus, out = Path(corpus), store_dir(corpus, codec_path)
    out.mkdir(parents=True, exist_ok=True)
    codec = load_codec(codec_path).eval()
    texts: list[str] = json.loads((out / "captions.json").read_text()) if (out / "captions.json").exists() else []
    rows = {t: i for i, t in enumerate(texts)}

    def row(text: str) -> int:
        if text not in rows:
            rows[text] = len(texts)
            texts.append(text)
        return rows[text]

    for split in splits:
        if texts and (out / f"{split}.safetensors").exists() and (out / f"{split}.json").exists():
            continue            # done (a split's caption rows are only valid with the saved texts)
        records = read_records(corpus, split)
        if not records:
            continue
        lat, curves, offsets, entries = [], [], [0], []
        for i, rec in enumerate(records):
            z = _encode(codec, load_audio(corpus, rec))
            feats = load_features(corpus, rec)
            frames = min(len(z), *(len(feats[c]) for c in SKETCH_CURVES))
            lat.append(z[:frames])
            curves.append(torch.from_numpy(np.stack([feats[c][:frames] for c in SKETCH_CURVES], axis=1).astype(np.float32)))
            offsets.append(offsets[-1] + frames)
            caps = rec.get("captions") or [rec.get("family") or rec.get("style") or "music"]
            unseen = rec.get("unseen_caption")
            mean_bright = float(np.mean(feats["bright"][:frames])) if frames else 1000.0
            entries.append(_clip_entry(rec, [row(c) for c in caps], row(unseen) if unseen else None,
                                       arrangement_from_record(rec, mean_bright)))
            if progress is not None:
                progress(i + 1, len(records))
        tensors = {"latents": torch.cat(lat).float().contiguous(), "curves": torch.cat(curves).contiguous(),
                   "offsets": torch.tensor(offsets, dtype=torch.int64)}
        save_file(tensors, str(out / f"{split}.safetensors.tmp"))
        (out / f"{split}.safetensors.tmp").replace(out / f"{split}.safetensors")
        (out / "captions.json").write_text(json.dumps(texts))
        (out / f"{split}.json").write_text(json.dumps(entries))
        log(f"{split}: {len(entries)} clips, {offsets[-1]} latent frames -> {out}")
    _embed_captions(out, texts, embed)
    return out


def _embed_captions(out: Path, texts: list[str], embed) -> None:
    have = 0
    if (out / "captions.safetensors").exists():
        have = load_file(str(out / "captions.safetensors"))["embeddings"].shape[0]
    if have == len(texts):
        return
    if embed is None:
        from ..model.text_encoder import shared_text_encoder
        embed = shared_text_encoder().embed
    vectors = torch.cat([embed(texts[i:i + 256]) for i in range(0, len(texts), 256)]) if texts else torch.zeros(0, 384)
    save_file({"embeddings": vectors.float().contiguous()}, str(out / "captions.safetensors.tmp"))
    (out / "captions.safetensors.tmp").replace(out / "captions.safetensors")
    (out / "captions.json").write_text(json.dumps(texts))


def _with_sources(clips: list[dict], corpus: Path, split: str) -> list[dict]:
    """Clip entries with each one's `source`, read from the corpus for a store written before
    entries kept it: the judges tell a recording by it (audio_models.tempo_label), and a stored
    split is never encoded again."""
    if all("source" in c for c in clips):
        return clips
    sources = {r["id"]: r.get("source") for r in read_records(corpus, split)} if corpus.exists() else {}
    return [c if "source" in c else dict(c, source=sources.get(c["id"])) for c in clips]


class LatentSplit:
    """One split of the store, in memory: clips as slices of one latent array."""

    def __init__(self, folder: Path, split: str):
        folder = Path(folder)
        path = folder / f"{split}.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no encoded {split} split; `lmdmlive train base` builds it "
                                    "from the corpus (or the corpus holds no such clips)")
        t = load_file(str(path))
        self.latents, self.curves, self.offsets = t["latents"], t["curves"], t["offsets"]
        self.clips = _with_sources(json.loads((folder / f"{split}.json").read_text()), folder.parent, split)
        self.captions = load_file(str(folder / "captions.safetensors"))["embeddings"]
        self.caption_texts = json.loads((folder / "captions.json").read_text())

    def __len__(self) -> int:
        return len(self.clips)

    def frames(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def clip(self, i: int, start: int = 0, length: int | None = None):
        """(latents, curves) of clip i from frame `start`."""
        a = int(self.offsets[i]) + start
        b = int(self.offsets[i + 1]) if length is None else a + length
        return self.latents[a:b], self.curves[a:b]

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and spread of the latents (for standardisation)."""
        mean = self.latents.mean(dim=0)
        std = self.latents.std(dim=0).clamp_min(1e-3)
        return mean, std


def families(split: LatentSplit) -> list[str]:
    return sorted({c["family"] for c in split.clips})


def seconds_of(split: LatentSplit, frame_rate: int) -> float:
    return float(split.offsets[-1]) / frame_rate if len(split.offsets) else 0.0

