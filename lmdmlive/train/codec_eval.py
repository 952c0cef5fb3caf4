"""`lmdmlive eval codec`: the codec against Opus at 24 kbit/s on the same held-out clips.

Both are measured by the same distances (log-mel L1, multi-resolution STFT distance,
SI-SDR) on the same excerpts, and log-mel L1 is also split into the reference's loud
and quiet bins (`mel_l1_loud`, `mel_l1_quiet`), which says what a coder loses.
`decode_rtf` is seconds of audio per second of streaming decode, block by block as
the engine does it. `pitch_acc` is the share of the original's voiced frames that the
sketch pitch tracker still reads within 50 cents after coding: the ceiling of any
model's `pitch_acc` on this codec; `voicing_kept`, the share the tracker reads voiced at
all, says how much of the loss is periodicity rather than tuning. `pitch_acc_bass` and
`pitch_acc_above` split `pitch_acc` at 100 Hz of the original's f0: on recorded mixes
the tracker hears the bass on most voiced frames, and that is where a 25 Hz STFT grid
loses the periodicity (docs/dev/codec.md, "Where the pitch is lost"). `latent_kbps` is the information rate of the
latents the decoder was trained on (their posterior's KL to the prior), beside Opus's
24 kbit/s: a decoder cannot put back what the latents do not carry.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..model import Codec
from ..model.codec import kl_to_prior
from ..model.features import sketch_features
from .corpus.shards import load_audio, read_records
from .spectral import mel_l1_by_level, si_sdr, stft_distance
from .splits import check_split, eval_split_of, piece_of, source_matches

OPUS_KBPS = 24
BASS_HZ = 100.0
BASS_MIDI = 69.0 + 12.0 * math.log2(BASS_HZ / 440.0)      # the sketch tracker's pitch is in MIDI


def latent_kbps(mean: torch.Tensor, logvar: torch.Tensor, frame_rate: float) -> float:
    """Kilobits per second the latent channel carries: KL(posterior || N(0, 1)) per frame, times frames."""
    nats = kl_to_prior(mean.double(), logvar.double())
    return float(nats.sum(-1).mean()) / math.log(2) * frame_rate / 1000


def opus_roundtrip(audio: np.ndarray, sample_rate: int, kbps: int = OPUS_KBPS) -> np.ndarray:
    """Encode with opusenc and decode with opusdec (Debian opus-tools) at the same rate and length."""
    for tool in ("opusenc", "opusdec"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed; install the Debian package opus-tools")
    with tempfile.TemporaryDirectory(prefix="lmdm-opus-") as tmp:
        src, enc, dec = Path(tmp, "in.wav"), Path(tmp, "x.opus"), Path(tmp, "out.wav")
        sf.write(src, audio, sample_rate, subtype="PCM_16")
        subprocess.run(["opusenc", "--quiet", "--bitrate", str(kbps), "--hard-cbr", str(src), str(enc)], check=True)
        subprocess.run(["opusdec", "--quiet", "--rate", str(sample_rate), str(enc), str(dec)], check=True)
        out, _ = sf.read(dec, dtype="float32")
    if out.ndim > 1:
        out = out.mean(axis=1)
    fixed = np.zeros_like(audio)
    fixed[: min(len(out), len(audio))] = out[: len(audio)]
    return fixed


def pitch_kept(wanted: dict, got: dict, where: np.ndarray | None = None) -> tuple[int, int]:
    """Voiced frames of `wanted` that `got` reads voiced and within 50 cents, and how many were voiced;
    only the frames `where` is true, when given (a band of the original's pitch)."""
    m = min(len(wanted["pitch"]), len(got["pitch"]))
    voiced = wanted["voiced"][:m] > 0.5
    if where is not None:
        voiced = voiced & where[:m]
    right = voiced & (got["voiced"][:m] > 0.5) & (np.abs(got["pitch"][:m] - wanted["pitch"][:m]) <= 0.5)
    return int(right.sum()), int(voiced.sum())


def voicing_kept(wanted: dict, got: dict) -> int:
    """Voiced frames of `wanted` that `got` reads voiced at all, at any pitch: `pitch_acc` is this
    share times the share of those read within 50 cents, so the two say whether a coder loses
    pitch by blurring it into noise or by moving it."""
    m = min(len(wanted["voiced"]), len(got["voiced"]))
    return int(((wanted["voiced"][:m] > 0.5) & (got["voiced"][:m] > 0.5)).sum())


def excerpts(corpus: Path, clips: int, seconds: float, hop: int, labels: list | None = None,
             split: str = "test", source: str = "all") -> list[np.ndarray]:
    """The first `seconds` of the first `clips` held-out clips of `split` and `source`, in corpus order
    (reproducible)."""
    out = []
    for rec in read_records(corpus, "heldout"):
        if (rec["seconds"] < seconds or eval_split_of(piece_of(rec)) != check_split(split)
                or not source_matches(rec, source)):
            continue
        audio = load_audio(corpus, rec)
        n = int(seconds * rec["sample_rate"]) // hop * hop
        out.append(audio[:n])
        if labels is not None:
            labels.append(f"{rec.get('style', rec.get('family', ''))}: {rec.get('title', rec['id'])}"[:48])
        if len(out) == clips:
            break
    if not out:
        which = "" if source == "all" else f" {source}"
        raise FileNotFoundError(f"{corpus}: no{which} {split} clips of {seconds} s; build the corpus first"
                                + (" with those sources" if which else ""))
    return out


@torch.no_grad()
def evaluate_codec(codec: Codec, corpus: Path, clips: int = 24, seconds: float = 8.0, block_frames: int = 12,
                   plot: str | None = None, plot_rows: int = 4, split: str = "test", source: str = "all") -> dict:
    cfg = codec.cfg
    sr = cfg.sample_rate
    metrics = {k + suffix: [] for suffix in ("", "_opus24") for k in ("mel_l1", "stft_distance", "si_sdr")}
    # frames read right, voiced frames, read voiced; then right and voiced below BASS_HZ
    pitch = {suffix: [0, 0, 0, 0, 0] for suffix in ("", "_opus24")}
    levels = {suffix: {"loud_sum": 0.0, "loud_bins": 0, "quiet_sum": 0.0, "quiet_bins": 0}
              for suffix in ("", "_opus24")}
    decode_seconds, audio_seconds = 0.0, 0.0
    rates = []
    labels: list[str] = []
    shown = []
    # The process's first decode pays for loading kernels (the engine pays it in warm_up, before
    # any stream plays); a throwaway block keeps it out of decode_rtf, which is the streaming rate.
    codec.stream_decoder()(torch.zeros(1, block_frames, cfg.latent_dim))
    for i, audio in enumerate(excerpts(corpus, clips, seconds, cfg.hop, labels, split, source)):
        ref = torch.from_numpy(audio)[None]
        z, logvar = codec.encode_stats(ref)
        rates.append(latent_kbps(z, logvar, cfg.frame_rate))
        decoder = codec.stream_decoder()
        t0 = time.perf_counter()
        recon = torch.cat([decoder(z[:, i:i + block_frames]) for i in range(0, z.shape[1], block_frames)], dim=1)
        decode_seconds += time.perf_counter() - t0
        audio_seconds += len(audio) / sr
        ref, recon = codec.aligned(ref, recon)             # a delayed decoder is measured against what it heard
        opus = torch.from_numpy(opus_roundtrip(audio, sr))[None, :ref.shape[1]]
        wanted = sketch_features(ref[0].numpy(), sr, cfg.hop)
        if plot and len(shown) < plot_rows:
            cut = min(ref.shape[1], 4 * sr)
            shown.append((labels[i], ref[0, :cut].numpy(), recon[0, :cut].numpy(), opus[0, :cut].numpy()))
        for suffix, est in (("", recon), ("_opus24", opus)):
            parts = mel_l1_by_level(ref, est, sr)        # one log-mel pass gives both the whole and its parts
            metrics["mel_l1" + suffix].append((parts["loud_sum"] + parts["quiet_sum"])
                                              / (parts["loud_bins"] + parts["quiet_bins"]))
            for key, value in parts.items():
                levels[suffix][key] += value
            metrics["stft_distance" + suffix].append(float(stft_distance(ref, est)))
            metrics["si_sdr" + suffix].append(float(si_sdr(ref, est)[0]))
            heard = sketch_features(est[0].numpy(), sr, cfg.hop)
            right, voiced = pitch_kept(wanted, heard)
            pitch[suffix][0] += right
            pitch[suffix][1] += voiced
            pitch[suffix][2] += voicing_kept(wanted, heard)
            right, voiced = pitch_kept(wanted, heard, where=wanted["pitch"] < BASS_MIDI)
            pitch[suffix][3] += right
            pitch[suffix][4] += voiced
    if plot:
        from .codec_plot import plot_spectrograms
        plot_spectrograms(shown, sr, plot)
    result = {k: round(float(np.mean(v)), 4) for k, v in metrics.items()}
    for suffix, pooled in levels.items():
        for level in ("loud", "quiet"):
            bins = pooled[f"{level}_bins"]
            result[f"mel_l1_{level}{suffix}"] = round(pooled[f"{level}_sum"] / bins, 4) if bins else float("nan")
    share = lambda a, b: round(a / b, 4) if b else float("nan")          # noqa: E731
    for suffix, (right, voiced, heard, right_bass, voiced_bass) in pitch.items():
        result["pitch_acc" + suffix] = share(right, voiced)
        result["voicing_kept" + suffix] = share(heard, voiced)
        result["pitch_acc_bass" + suffix] = share(right_bass, voiced_bass)
        result["pitch_acc_above" + suffix] = share(right - right_bass, voiced - voiced_bass)
        result["voiced_frames_bass" + suffix] = voiced_bass
    result["decode_rtf"] = round(audio_seconds / decode_seconds, 1)
    result["latent_kbps"] = round(float(np.mean(rates)), 2)
    result["decoder_delay_ms"] = round(1000 * cfg.delay_samples / sr, 1)
    result["clips"], result["split"], result["source"] = len(metrics["mel_l1"]), split, source
    result["seconds_per_clip"] = seconds
    return result
