"""Streaming in and out of the codec is seamless: blocks concatenate to the one-shot result."""
import numpy as np
import pytest
import torch

from lmdmlive.model import CodecConfig, ConfigError

from .helpers import SMALL_CODEC, small_codec


@pytest.mark.parametrize("block", [1, 5, 12])
def test_streaming_decode_equals_one_shot_decode(block):
    codec = small_codec()
    z = torch.randn(2, 36, SMALL_CODEC.latent_dim)
    with torch.no_grad():
        whole = codec.decode(z)
        stream = codec.stream_decoder()
        parts = torch.cat([stream(z[:, i:i + block]) for i in range(0, 36, block)], dim=1)
    assert parts.shape == whole.shape == (2, 36 * SMALL_CODEC.hop)
    assert torch.allclose(parts, whole, atol=1e-6 * max(1.0, whole.abs().max().item()))


def test_no_discontinuity_at_block_joins():
    codec = small_codec()
    z = torch.randn(1, 48, SMALL_CODEC.latent_dim)
    with torch.no_grad():
        stream = codec.stream_decoder()
        audio = torch.cat([stream(z[:, i:i + 12]) for i in range(0, 48, 12)], dim=1)[0].numpy()
    jumps = np.abs(np.diff(audio))
    joins = [12 * SMALL_CODEC.hop * k - 1 for k in (1, 2, 3)]
    typical = np.percentile(jumps, 99.5)
    for j in joins:
        assert jumps[j] <= typical, f"a jump of {jumps[j]:.4g} at the join {j} (99.5th percentile {typical:.4g})"


def test_streaming_encode_equals_one_shot_encode():
    codec = small_codec()
    wave = torch.randn(2, 40 * SMALL_CODEC.hop) * 0.3
    with torch.no_grad():
        whole = codec.encode(wave)
        stream = codec.stream_encoder()
        chunk = 3 * SMALL_CODEC.hop
        parts = torch.cat([stream(wave[:, i:i + chunk]) for i in range(0, wave.shape[1], chunk)], dim=1)
    assert whole.shape == (2, 40, SMALL_CODEC.latent_dim)
    assert torch.allclose(parts, whole, atol=1e-5)


def test_decoder_output_depends_on_latents():
    codec = small_codec()
    with torch.no_grad():
        a = codec.decode(torch.randn(1, 10, SMALL_CODEC.latent_dim))
        b = codec.decode(torch.randn(1, 10, SMALL_CODEC.latent_dim))
    assert (a - b).abs().max() > 1e-4


def test_audio_that_is_not_whole_frames_is_refused_with_the_numbers():
    codec = small_codec()
    with pytest.raises(ValueError, match=r"not a whole number of 320-sample latent frames"):
        codec.encode(torch.zeros(1, 1000))


@pytest.mark.parametrize("fields, message", [
    ({"sample_rate": 24000, "frame_rate": 7}, "sample_rate 24000 is not a multiple of frame_rate 7"),
    ({"stft_hop": 250}, "stft_hop 250"),
    ({"channels": 0}, "channels must be at least 1"),
])
def test_impossible_codec_configs_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        CodecConfig(**fields).validate()
