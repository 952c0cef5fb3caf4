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
    ({"decoder_delay": 4}, "decoder_delay must be 0 to 3 STFT hops, got 4"),
    ({"phase_head": "free"}, "phase_head must be one of"),
])
def test_impossible_codec_configs_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        CodecConfig(**fields).validate()


def _one_partial_decoder(phase_head: str, k: int):
    """A decoder whose output is fixed by its biases: one bin loud, the rest silent."""
    import dataclasses
    from lmdmlive.model import Codec
    codec = Codec(dataclasses.replace(SMALL_CODEC, phase_head=phase_head)).eval()
    bins = SMALL_CODEC.n_fft // 2 + 1
    with torch.no_grad():
        codec.dec_out.weight.zero_()
        codec.dec_out.bias.zero_()
        codec.dec_out.bias[:bins] = -20.0
        codec.dec_out.bias[k] = 3.0
        if phase_head == "carried":
            codec.dec_phase.bias[bins:] = 4.6            # gate about 0.99: the carried phase leads
    return codec


def test_a_carried_phase_holds_a_steady_partial_that_an_absolute_phase_cancels():
    k = 10                          # 250 Hz at 8 kHz: half a turn of phase a frame, not whole turns
    z = torch.zeros(1, 40, SMALL_CODEC.latent_dim)
    with torch.no_grad():
        absolute = _one_partial_decoder("absolute", k).decode(z)[0].numpy()
        carried = _one_partial_decoder("carried", k).decode(z)[0].numpy()
    steady = slice(8 * SMALL_CODEC.hop, None)
    level_abs, level_car = (float(np.sqrt(np.mean(a[steady] ** 2))) for a in (absolute, carried))
    assert level_abs < 1e-3 * level_car, (level_abs, level_car)
    spectrum = np.abs(np.fft.rfft(carried[steady] * np.hanning(len(carried[steady]))))
    peak_hz = np.argmax(spectrum) * SMALL_CODEC.sample_rate / len(carried[steady])
    assert abs(peak_hz - 250.0) < 5.0, peak_hz
    blocks = carried[steady].reshape(-1, SMALL_CODEC.hop)
    rms = np.sqrt(np.mean(blocks ** 2, axis=1))
    assert rms.max() < 1.01 * rms.min(), "a held partial keeps its level"


def test_a_carried_phase_streams_like_one_shot_decoding():
    import dataclasses
    from lmdmlive.model import Codec
    from .helpers import perturbed
    codec = perturbed(Codec(dataclasses.replace(SMALL_CODEC, phase_head="carried")), scale=0.02)
    z = torch.randn(2, 30, SMALL_CODEC.latent_dim)
    with torch.no_grad():
        whole = codec.decode(z)
        stream = codec.stream_decoder()
        parts = torch.cat([stream(z[:, i:i + 7]) for i in range(0, 30, 7)], dim=1)
    assert torch.allclose(parts, whole, atol=1e-6 * max(1.0, whole.abs().max().item()))


def test_a_carried_phase_plays_the_same_loop_it_trains():
    """Playing runs the carried phase's frame loop in numpy; training runs it in torch for the gradient."""
    import dataclasses
    from lmdmlive.model import Codec
    from .helpers import perturbed
    codec = perturbed(Codec(dataclasses.replace(SMALL_CODEC, phase_head="carried")), scale=0.02)
    z = torch.randn(2, 30, SMALL_CODEC.latent_dim)
    trained = codec.decode(z).detach()
    with torch.no_grad():
        played = codec.decode(z)
    # (training also takes the grouped-convolution path: the two differ in float rounding only)
    assert float((played - trained).abs().max()) < 1e-3 * float(trained.abs().max())


def test_aligned_lines_a_delayed_decoder_up_with_its_source():
    import dataclasses
    from lmdmlive.model import Codec
    codec = Codec(dataclasses.replace(SMALL_CODEC, decoder_delay=3))
    d = codec.cfg.delay_samples
    assert d == 3 * SMALL_CODEC.stft_hop
    source = torch.randn(2, 10 * SMALL_CODEC.hop)
    late = torch.cat([torch.zeros(2, d), source[:, :-d]], dim=1)       # what a perfect delayed decoder plays
    a, b = codec.aligned(source, late)
    assert a.shape == b.shape == (2, source.shape[1] - d)
    assert torch.equal(a, b)
    undelayed = Codec(SMALL_CODEC)
    a, b = undelayed.aligned(source, late)
    assert a is source and b is late, "no delay, nothing cut"


def test_the_inference_convolution_is_the_training_one():
    """Decoding without gradients adds shifted frames instead of calling Conv1d: the same sum."""
    codec = small_codec()
    z = torch.randn(2, 20, SMALL_CODEC.latent_dim)
    trained = codec.decode(z)                       # gradients wanted: the Conv1d path
    with torch.no_grad():
        played = codec.decode(z)
    assert trained.requires_grad and not played.requires_grad
    assert torch.allclose(played, trained.detach(), atol=1e-5 * max(1.0, float(trained.detach().abs().max())))
