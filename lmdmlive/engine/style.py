"""Style vectors from prompts: the one blend rule, and audio clips through the codec.

A prompt reaches the engine as parts, `("text", "deep house", 0.7)` or
`("audio", "/path/loop.wav", 0.3)`: plain values that cross a process boundary as
they are, so the same blend runs beside the model whether the engine shares the
performer's process or has one of its own (engine/process.py).
"""
from __future__ import annotations

import numpy as np
import torch

AUDIO_PROMPT_SECONDS = 30      # what of a clip is heard: its first 30 s
WINDOW_FRAMES = 125            # the audio-prompt encoder's window (5 s of latents)


class StyleError(ValueError):
    pass


def blend(parts, embed, embed_audio=None) -> torch.Tensor:
    """(1, dim) unit-length weighted sum of the parts' embeddings; `embed(text)` and
    `embed_audio(path)` each give (1, dim) in the same space."""
    total = sum(w for _, _, w in parts)
    if total <= 0:
        raise StyleError("a blend whose weights are all 0 says nothing; give one part a weight above 0")
    v = 0
    for kind, value, w in parts:
        if kind == "audio":
            if embed_audio is None:
                raise StyleError("this session cannot hear audio prompts (no audio-prompt encoder)")
            v = v + w * embed_audio(value)
        else:
            v = v + w * embed(value)
    return v / v.norm().clamp_min(1e-8)


def embed_audio_file(codec, encoder, path) -> torch.Tensor:
    """(1, dim) style vector of an audio file: up to its first 30 s, through the codec and the
    audio-prompt encoder, averaged over 5 s windows."""
    import soundfile as sf
    import soxr

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise StyleError(f"audio prompt {str(path)!r}: cannot read it ({e})") from None
    sr, hop = codec.cfg.sample_rate, codec.cfg.hop
    audio = soxr.resample(audio.mean(axis=1), rate, sr)[: AUDIO_PROMPT_SECONDS * sr]
    audio = np.ascontiguousarray(audio[: len(audio) // hop * hop], dtype=np.float32)
    if len(audio) < sr:
        raise StyleError(f"audio prompt {str(path)!r}: shorter than one second")
    with torch.no_grad():
        z = codec.encode(torch.from_numpy(audio)[None])
        windows = [z[:, i:i + WINDOW_FRAMES] for i in range(0, max(1, z.shape[1] - WINDOW_FRAMES + 1),
                                                           WINDOW_FRAMES)]
        v = torch.stack([encoder(w)[0] for w in windows]).mean(0, keepdim=True)
    return v / v.norm().clamp_min(1e-8)
