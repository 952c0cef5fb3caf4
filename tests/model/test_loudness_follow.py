"""The loudness follower moves each block toward its lane, within its cap, without jumps."""
import numpy as np
import torch

from lmdmlive.engine.controls import BlockControls, to_conditions
from lmdmlive.engine.render import render_offline
from lmdmlive.model.default import ModelBundle
from lmdmlive.model.loudness_follow import MAX_DB, PEAK_DBFS, FollowingDecoder, LoudnessFollower, follow_blocks, lane_db
from lmdmlive.train.eval_gen import generate

from .helpers import small_codec, small_lmdm

HOP, FRAMES = 100, 6


def frame_db(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // HOP * HOP].reshape(-1, HOP)
    return 20 * np.log10(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12)


def tone(db: float, n: int = HOP * FRAMES) -> np.ndarray:
    t = np.arange(n)
    return (np.sqrt(2) * 10 ** (db / 20) * np.sin(2 * np.pi * t / 20)).astype(np.float32)


def lane(db: float) -> tuple[np.ndarray, np.ndarray]:
    return np.full(FRAMES, db, np.float32), np.ones(FRAMES, bool)


def test_a_block_near_its_lane_is_brought_onto_it_and_a_far_one_moves_by_the_cap():
    out = LoudnessFollower(HOP)(tone(-24.0), lane(-20.0))
    assert np.abs(frame_db(out)[1:] - (-20.0)).max() < 0.3, "4 dB under the lane: lifted onto it"
    far = LoudnessFollower(HOP)(tone(-24.0), lane(-40.0))
    assert np.abs(frame_db(far)[1:] - (-24.0 - MAX_DB)).max() < 0.3, "16 dB over: lowered by the cap only"


def test_the_gain_never_jumps_between_blocks_and_eases_back_without_a_lane():
    f = LoudnessFollower(HOP)
    first = f(tone(-24.0), lane(-20.0))
    second = f(tone(-24.0), None)
    both, source = np.concatenate([first, second]), np.concatenate([tone(-24.0), tone(-24.0)])
    on = np.abs(source) > 1e-3
    gain_db = 20 * np.log10(np.abs(both[on]) / np.abs(source[on]))
    assert np.abs(np.diff(gain_db)).max() < 0.5, "the gain ramps, it never steps"
    assert abs(frame_db(second)[-1] - (-24.0)) < 0.05, "a block without a lane ends at 0 dB of gain"
    assert f.gain_db == 0.0
    untouched = LoudnessFollower(HOP)(tone(-24.0), None)
    assert np.array_equal(untouched, tone(-24.0)), "no lane, no gain: the audio is the model's"


def test_near_silence_is_never_lifted():
    quiet = tone(-70.0)
    out = LoudnessFollower(HOP)(quiet, lane(-20.0))
    assert np.abs(out).max() <= np.abs(quiet).max() + 1e-9


def test_a_lift_never_takes_the_peak_over_the_ceiling_even_across_a_block_join():
    ceiling = 10 ** (PEAK_DBFS / 20)
    f = LoudnessFollower(HOP)
    quiet = f(tone(-24.0), lane(-18.0))                       # ends the block lifted by 6 dB
    assert f.gain_db > 5.9
    loud = tone(-6.0)                                         # peak -3 dBFS: 2 dB of room
    out = f(loud, lane(0.0))
    assert np.abs(out).max() <= ceiling + 1e-6, "the lift stops at the ceiling, from the block's first sample"
    assert np.abs(out).max() > 10 ** (-3.0 / 20) + 0.05, "and it still lifts as far as the ceiling allows"
    assert np.abs(quiet).max() < ceiling
    hot = tone(0.0)                                           # the model itself over the ceiling
    assert np.array_equal(LoudnessFollower(HOP)(hot, lane(2.0)), hot), "no room: neither lifted nor lowered"


def test_the_lane_is_read_in_dbfs_with_nan_where_it_is_free():
    loud = np.full(FRAMES, np.nan)
    assert lane_db(loud) is None, "a lane free on every frame is no lane"
    loud[2:] = -12.0
    db, given = lane_db(loud)
    assert (db[2:] == -12.0).all() and given.tolist() == [False, False, True, True, True, True]
    assert lane_db(None) is None


def test_a_render_plays_the_models_audio_through_the_follower():
    model, codec = small_lmdm(), small_codec()
    bf = model.cfg.block_frames
    controls = BlockControls(style=torch.ones(1, 384) * 0.1, loud_db=np.full(bf, -60.0))   # far under the model
    cond = to_conditions(controls, model.cfg)
    assert cond.sketch_mask[0, :, 0].all() and cond.sketch[0, 0, 0] == (-60.0 + 30.0) / 15.0
    raw = generate(model, codec, [cond] * 3, seed=4, steps=2, guidance=2.0)
    played = render_offline(ModelBundle(model, codec, trained=False, source="test"), None,
                            3 * model.cfg.block_seconds, seed=4, steps=2, guidance=2.0, controls=lambda t: controls)
    expected = follow_blocks(raw, np.full(3 * bf, -60.0), codec.cfg.hop, bf)
    assert np.allclose(played, expected[:len(played)], atol=1e-6)
    assert np.sqrt(np.mean(played ** 2)) < 0.6 * np.sqrt(np.mean(raw ** 2)), "lowered toward the lane"


def test_a_following_decoder_rewinds_with_its_state():
    model, codec = small_lmdm(), small_codec()
    z = torch.randn(1, model.cfg.block_frames, codec.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    loud = np.full(model.cfg.block_frames, -30.0)
    dec = FollowingDecoder(codec.stream_decoder(), codec.cfg.hop)
    dec(z, loud)
    saved = dec.state
    again = dec(z, loud)
    dec.state = saved
    assert np.array_equal(dec(z, loud), again)


def test_a_follower_of_a_late_decoder_reads_the_lane_as_late_across_blocks():
    step = (np.array([-27.0, -27, -27, -27, -27, -21], np.float32), np.ones(FRAMES, bool))   # up in the last frame
    after = lane(-21.0)
    on_time, late = LoudnessFollower(HOP), LoudnessFollower(HOP, lag_frames=1)
    first = [f(tone(-24.0), step) for f in (on_time, late)]
    second = [f(tone(-24.0), after) for f in (on_time, late)]
    # on time: the last frame is lifted; late: it still hears -27, and the lift waits for the next block
    assert frame_db(first[0])[-1] > -22.0 and frame_db(first[1])[-1] < -26.0
    assert frame_db(second[1])[0] > -22.5, "the lane's last frame carries into the next block"
    # a lane that stops still reaches one more frame of a late decoder's audio
    gone = late(tone(-24.0), None)
    assert frame_db(gone)[0] > -22.0


def test_a_following_decoder_takes_its_lag_from_the_codec():
    import dataclasses
    from lmdmlive.model import Codec
    from .helpers import SMALL_CODEC
    assert FollowingDecoder.of(Codec(SMALL_CODEC)).follower.lag == 0
    late = Codec(dataclasses.replace(SMALL_CODEC, decoder_delay=3))     # 3 of 4 hops: most of a frame
    assert FollowingDecoder.of(late).follower.lag == 1
