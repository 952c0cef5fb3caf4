"""Where a codec loses pitch: its magnitudes or its phase.

`eval codec` says how much pitch survives coding (`pitch_acc`), not why. This probe pairs
the decoder's own magnitudes with the original's phase, and the original's magnitudes
with the decoder's phase, frame for frame on the decoder's STFT grid, and asks the
sketch pitch tracker of each pairing what `pitch_acc` asks of the codec. "true" is the
original's own spectra through the same overlap-add: what the measurement itself keeps
(near 1, or the other rows mean nothing). A control pairs
the original's phase with its magnitudes blurred across 9 bins (225 Hz): phase alone
can carry much of a pitch through an STFT (overlapping frames re-impose their
magnitudes), so "its magnitude with the true phase keeps the pitch" only means the
magnitudes hold it when the blurred control does not.

    python -m lmdmlive.train.codec_probe CODEC --corpus data/corpus-real --split valid --source recorded
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..model import Codec, load_codec
from ..model.features import sketch_features
from .codec_eval import excerpts, pitch_kept

BLUR_BINS = 9
PAIRINGS = ("true", "decoded", "its_magnitude_true_phase", "true_magnitude_its_phase", "blurred_magnitude_true_phase")


def blurred(mag: torch.Tensor, bins: int = BLUR_BINS) -> torch.Tensor:
    """Magnitudes (B, F, bins) averaged over `bins` neighbouring bins: the envelope without its partials."""
    flat = mag.reshape(-1, 1, mag.shape[-1])
    kernel = torch.full((1, 1, bins), 1.0 / bins, dtype=mag.dtype)
    return F.conv1d(F.pad(flat, (bins // 2, bins // 2), mode="replicate"), kernel).reshape(mag.shape)


@torch.no_grad()
def pairings(codec: Codec, wave: torch.Tensor) -> dict[str, torch.Tensor]:
    """Audio (1, N) -> each pairing's audio, lined up with the original as `Codec.aligned` lines up decoding.

    A carried head's phase is the angle of the phasors it settled on (it depends on every frame
    before, so it is read from a whole decode). A harmonic branch's partials are left out of every
    pairing: the probe asks about the STFT path, and "decoded" is then not the whole output."""
    if codec.cfg.decoder_delay != codec.cfg.n_fft // codec.cfg.stft_hop - 1:
        raise ValueError(f"decoder_delay {codec.cfg.decoder_delay}: only at {codec.cfg.n_fft // codec.cfg.stft_hop - 1} "
                         "does each decoder frame span the samples of one analysis frame, so that they can be swapped")
    z = codec.encode(wave)
    mag, phase, _, _ = codec.decoder_polar(z)
    if codec.cfg.phase_head == "carried":
        phase = codec.decode_with_phase(z).phasors.angle()
    true = codec.analysis_frames(wave)[:, :mag.shape[1]]
    spectra = {"true": true, "decoded": torch.polar(mag, phase),
               "its_magnitude_true_phase": torch.polar(mag, true.angle()),
               "true_magnitude_its_phase": torch.polar(true.abs(), phase),
               "blurred_magnitude_true_phase": torch.polar(blurred(true.abs()), true.angle())}
    return {name: codec.aligned(wave, codec.overlap_add(spec)[0])[1] for name, spec in spectra.items()}


def probe(codec: Codec, corpus: Path, clips: int = 24, seconds: float = 8.0, split: str = "valid",
          source: str = "all") -> dict:
    """The share of the original's voiced frames each pairing keeps within 50 cents (as `pitch_acc`)."""
    cfg = codec.cfg
    kept = {name: [0, 0] for name in PAIRINGS}
    for audio in excerpts(corpus, clips, seconds, cfg.hop, split=split, source=source):
        wave = torch.from_numpy(audio)[None]
        outs = pairings(codec, wave)
        ref = codec.aligned(wave, wave)[0]
        wanted = sketch_features(ref[0].numpy(), cfg.sample_rate, cfg.hop)
        for name, est in outs.items():
            right, voiced = pitch_kept(wanted, sketch_features(est[0].numpy(), cfg.sample_rate, cfg.hop))
            kept[name][0] += right
            kept[name][1] += voiced
    return {f"pitch_acc_{name}": round(right / voiced, 4) if voiced else float("nan")
            for name, (right, voiced) in kept.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lmdmlive.train.codec_probe", description=__doc__.split("\n")[0])
    ap.add_argument("codec", help="codec checkpoint (path without .safetensors)")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--split", default="valid", choices=("valid", "test"))
    ap.add_argument("--source", default="all")
    ap.add_argument("--clips", type=int, default=24)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    result = probe(load_codec(args.codec).eval(), Path(args.corpus), args.clips, split=args.split, source=args.source)
    for key, value in result.items():
        print(f"{key:40s} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
