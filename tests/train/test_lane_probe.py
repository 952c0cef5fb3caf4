"""The lane probe: it reads lanes back out of latents, and `train arc --lane-loss` uses it to tell
the generator how far its rollouts play from the lanes they were given."""
import pytest
import torch
from safetensors.torch import load_file

from lmdmlive.model import LMDM, LMDMConfig, load_checkpoint, save_checkpoint
from lmdmlive.model.config import SKETCH_CURVES
from lmdmlive.train.arc import train_arc
from lmdmlive.train.lane_probe import (NOTES, OUT_BRIGHT, OUT_LOUD, OUT_PITCH, OUT_VOICED, LaneProbe, lane_loss,
                                       load_lane_probe, note_class, probe_config, probe_figures, train_lane_probe)
from lmdmlive.train.latents import LatentSplit, store_dir
from lmdmlive.train.state import read_log

from .test_arc import _save_init
from .test_lmdm_training import setup  # noqa: F401  (the module fixture)

N = len(SKETCH_CURVES)


def _lanes(T=6):
    torch.manual_seed(0)
    sketch = torch.randn(2, T, N)
    sketch[..., SKETCH_CURVES.index("voiced")] = (torch.rand(2, T) > 0.5).float()
    return sketch, torch.ones(2, T, N)


def _as_read(sketch, semitones=0):
    """A probe output that says exactly the given lanes (voicing and the note as confident logits),
    its note moved by `semitones`."""
    S = SKETCH_CURVES.index
    pred = torch.zeros(*sketch.shape[:-1], OUT_PITCH + NOTES)
    pred[..., OUT_LOUD], pred[..., OUT_BRIGHT] = sketch[..., S("loud")], sketch[..., S("bright")]
    pred[..., OUT_VOICED] = (sketch[..., S("voiced")] * 2 - 1) * 30.0
    notes = note_class(sketch[..., S("pitch")] + semitones / 12)
    pred[..., OUT_PITCH:] = 30.0 * torch.nn.functional.one_hot(notes, NOTES)
    return pred


def test_the_lane_loss_counts_only_the_lanes_given_and_a_wrong_note_whatever_its_distance():
    sketch, mask = _lanes()
    sketch[..., SKETCH_CURVES.index("pitch")] = 0.25           # E4, away from the keyboard's ends
    exact = _as_read(sketch)
    assert float(lane_loss(exact, sketch, mask)) < 1e-6
    off = exact.clone()
    off[0, :, OUT_LOUD] += 1.0
    assert float(lane_loss(off, sketch, mask)) > 0.1
    free = mask.clone()
    free[0, :, SKETCH_CURVES.index("loud")] = 0                # the first item's loudness is free: no longer counted
    assert float(lane_loss(off, sketch, free)) < 1e-6
    semitone, octave = (float(lane_loss(_as_read(sketch, k), sketch, mask)) for k in (1, 12))
    assert semitone > 1.0 and octave == pytest.approx(semitone, rel=1e-5)   # right is what counts, as in pitch_acc
    assert float(lane_loss(off, sketch, torch.zeros_like(mask))) == 0.0       # nothing given: nothing to miss


def test_the_probe_learns_to_read_the_notes_of_latents_and_round_trips(setup, tmp_path):
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    train_lane_probe(corpus, corpus, codec_path, tmp_path / "init", tmp_path / "probe", steps=300, batch=8,
                     log=lambda m: None)
    probe = load_lane_probe(tmp_path / "probe")
    assert not any(p.requires_grad for p in probe.parameters())
    lmdm = load_checkpoint(tmp_path / "init", "lmdm", LMDMConfig, LMDM)[0]
    # the tones it was trained on, each at its own pitch (the held-out tones are at others, never seen)
    train = LatentSplit(store_dir(corpus, codec_path), "train")
    every = list(range(len(train)))
    after = probe_figures(probe, train, every, lmdm.latent_mean, lmdm.latent_std)
    before = probe_figures(LaneProbe(probe_config(8)).eval(), train, every, lmdm.latent_mean, lmdm.latent_std)
    assert after["pitch_acc"] > 0.6 and after["pitch_acc"] > before["pitch_acc"] + 0.4


def test_the_lane_loss_reaches_the_generator_and_is_logged(setup, tmp_path):
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    probe = LaneProbe(probe_config(8))
    save_checkpoint(probe, probe.cfg, tmp_path / "probe", "lane_probe")
    rows = {}
    for weight in (0.0, 5.0):
        run = tmp_path / f"arc{weight}"
        # two steps: Adam's first step (beta1 0) moves each weight by the learning rate times the sign of its
        # gradient, which another term rarely flips
        train_arc(corpus, codec_path, tmp_path / "init", run, steps=2, batch=2, context_blocks=2, rollout_blocks=2,
                  warmup_blocks=0, rollout_conditions="window", lane_loss=weight,
                  lane_probe=tmp_path / "probe" if weight else None, log=lambda m: None)
        rows[weight] = read_log(run)[0]
    assert rows[0.0]["lanes"] == 0.0 and rows[5.0]["lanes"] > 0.0
    # the same draws and the same discriminator; the generator's step differs by the lane term alone
    assert rows[0.0]["d_loss"] == rows[5.0]["d_loss"]
    a, b = (load_file(str(tmp_path / f"arc{w}" / "generator" / "last.safetensors")) for w in (0.0, 5.0))
    trained = [k for k in a if k.startswith("model.model.")]      # the generator, not its EMA
    assert trained and any(not torch.equal(a[k], b[k]) for k in trained)
    with pytest.raises(ValueError, match="needs a lane probe"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc_none", steps=1, lane_loss=1.0)
