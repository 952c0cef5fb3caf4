"""The cached path is the naive path, computed once instead of at every step."""
import pytest
import torch

from lmdmlive.model import Conditions, generate_block
from lmdmlive.model import kv_cache
from lmdmlive.model.sampler import block_noise, guided, sample_euler, timesteps

from .helpers import small_lmdm

BF, D = 4, 8


def _cond(batch, frames=BF, seed=1):
    g = torch.Generator().manual_seed(seed)
    return Conditions(style=torch.randn(batch, 384, generator=g),
                      sketch=torch.randn(batch, frames, 5, generator=g),
                      arrangement=torch.rand(batch, 7, generator=g))


@pytest.mark.parametrize("copies", [1, 2])
def test_cached_velocity_equals_naive_at_every_step_also_after_the_window_slid(monkeypatch, copies):
    # A tiny rebase period so the stored keys are re-rotated several times in this run.
    monkeypatch.setattr(kv_cache, "REBASE_FRAMES", 16)
    model = small_lmdm()
    history = torch.randn(2, BF * 10, D)
    caches = [model.new_cache(1), model.new_cache(1)]
    cond = _cond(2)
    worst = 0.0
    with torch.no_grad():
        for b in range(10):                      # window is 3 blocks: it slides 7 times
            prefix = model.prefix(caches, copies=copies)
            for step in range(3):
                x = torch.randn(2, BF, D)
                t = torch.tensor([0.9, 0.4]) / (step + 1)
                naive = model.forward_naive(history[:, :b * BF], x, t, cond)
                cached = model.forward_cached(prefix, x.repeat_interleave(copies, 0),
                                              t.repeat_interleave(copies), cond.repeat(copies))[::copies]
                worst = max(worst, (naive - cached).abs().max().item())
                assert torch.allclose(naive, cached, atol=1e-5, rtol=1e-4), (b, step)
            for i, c in enumerate(caches):       # leave the finished block pending, as generate_block does
                c.pending = history[i:i + 1, b * BF:(b + 1) * BF]
    assert caches[0].base > 0, "the test should have exercised a rebase"
    assert caches[0].blocks_seen == 9


def test_explicit_append_gives_the_same_cache_as_a_pending_block():
    model = small_lmdm()
    blocks = torch.randn(5, 1, BF, D)
    a, b = model.new_cache(1), model.new_cache(1)
    with torch.no_grad():
        for blk in blocks:
            model.append([a], blk)
            b.pending = blk
            prefix = model.prefix([b], copies=1)
            model.forward_cached(prefix, torch.randn(1, BF, D), torch.tensor(0.5), Conditions())
    assert a.blocks_seen == b.blocks_seen == 5
    assert torch.allclose(a.k, b.k, atol=1e-5) and torch.allclose(a.v, b.v, atol=1e-5)


def test_streams_at_different_positions_batch_into_one_call():
    model = small_lmdm()
    old, new = model.new_cache(1), model.new_cache(1)
    history = torch.randn(1, BF * 6, D)
    with torch.no_grad():
        for i in range(6):
            model.append([old], history[:, i * BF:(i + 1) * BF])
        x = torch.randn(2, BF, D)
        cond = _cond(2)
        batched = model.forward_cached(model.prefix([old, new]), x, torch.tensor(0.3), cond)
        alone_old = model.forward_naive(history, x[:1], torch.tensor(0.3), _select(cond, 0))
        alone_new = model.forward_naive(history[:, :0], x[1:], torch.tensor(0.3), _select(cond, 1))
    assert torch.allclose(batched[:1], alone_old, atol=1e-5)
    assert torch.allclose(batched[1:], alone_new, atol=1e-5)


def _select(cond, i):
    return Conditions(**{k: (None if v is None else v[i:i + 1]) for k, v in vars(cond).items()})


def test_cache_memory_stops_growing_once_the_window_is_full():
    model = small_lmdm()
    cache = model.new_cache(1)
    sizes, pointers = [], []
    with torch.no_grad():
        for i in range(3 * model.cfg.context_blocks + 5):
            model.append([cache], torch.randn(1, BF, D))
            sizes.append(cache.nbytes())
            pointers.append((cache.k.data_ptr(), cache.v.data_ptr()))
    assert len(set(sizes)) == 1 and len(set(pointers)) == 1
    window = model.cfg.context_frames
    held = sorted(cache.frame_index.tolist())
    assert held == list(range(cache.next_frame - window, cache.next_frame)), "only the last window is kept"


def test_generated_block_equals_naive_sampling_with_the_same_noise():
    model = small_lmdm()
    cache = model.new_cache(1)
    cond = _cond(1)
    history = []
    with torch.no_grad():
        for b in range(5):
            x0 = generate_block(model, [cache], cond, [7], steps=3, guidance=2.5)
            ctx = torch.cat(history, dim=1) if history else torch.zeros(1, 0, D)
            noise = block_noise(7, b, (1, BF, D))
            cond2 = Conditions(**{k: (None if v is None else torch.cat([v, torch.zeros_like(v)]))
                                  for k, v in vars(cond.filled(model.cfg, 1, BF)).items()})
            ref = sample_euler(guided(lambda x2, t: model.forward_naive(ctx.expand(2, -1, -1), x2, t, cond2), 2.5, 1),
                               noise, timesteps(3))
            assert torch.allclose(x0, ref, atol=1e-5), b
            history.append(x0)


def test_changing_the_prompt_leaves_the_cache_untouched():
    model = small_lmdm()
    a, b = model.new_cache(1), model.new_cache(1)
    with torch.no_grad():
        for i in range(4):
            generate_block(model, [a], _cond(1, seed=1), [3], steps=2)
            generate_block(model, [b], _cond(1, seed=1 if i < 2 else 99), [3], steps=2)
            if i < 3:
                assert torch.equal(a.k, b.k)
    # The block generated under the new prompt differs, and so does what it appends.
    assert not torch.equal(a.pending, b.pending)


def _fresh_copy(model):
    from lmdmlive.model import LMDM
    other = LMDM(model.cfg).eval()
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.parametrize("edit", ["ada", "final_ada", "t_embed", "context_cond", "conditions"])
def test_memoised_modulations_follow_in_place_edits_of_weights_and_conditions(edit):
    # The cached path remembers a step's modulation between blocks; an edit in place (an adapter
    # merge, a knob written into the same tensor) must reach the next block as in a fresh model.
    model = small_lmdm()
    cond = _cond(1)
    cache = model.new_cache(1)
    with torch.no_grad():
        for i in range(3):
            generate_block(model, [cache], cond, [4], steps=2, guidance=2.0)
        target = {"ada": model.ada.weight, "final_ada": model.final_ada.bias, "t_embed": model.t_embed.mlp[0].weight,
                  "context_cond": model.context_cond, "conditions": cond.style}[edit]
        target.add_(0.05)
        fresh, fresh_cache = _fresh_copy(model), model.new_cache(1)
        for name in ("k", "v", "frame_index"):
            getattr(fresh_cache, name).copy_(getattr(cache, name))
        fresh_cache.blocks_seen, fresh_cache.base, fresh_cache.pending = cache.blocks_seen, cache.base, cache.pending.clone()
        got = generate_block(model, [cache], cond, [4], steps=2, guidance=2.0)
        want = generate_block(fresh, [fresh_cache], cond, [4], steps=2, guidance=2.0)
    assert torch.equal(got, want)
