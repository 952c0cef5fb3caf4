"""ARC-Forcing's parts: rollouts carry gradients only where they should; the discriminators learn; runs resume."""
import random

import torch

from lmdmlive.model import Conditions, save_checkpoint
from lmdmlive.train.arc import LatentDiscriminator, TrunkDiscriminator, relativistic, rollout, train_arc, warm_history
from lmdmlive.train.arc_lanes import swapped_lanes
from lmdmlive.train.arc_velocity import cached_velocity, guided_velocity, teacher_block
from lmdmlive.train.state import read_log

from .test_lmdm_training import TINY, setup  # noqa: F401  (the module fixture)
from ..model.helpers import small_lmdm


def test_a_rollout_is_what_generation_does_and_only_last_steps_carry_gradients():
    model = small_lmdm()                                      # blocks of 4 frames, 3 blocks of context
    context = torch.randn(2, 8, 8)
    cond = Conditions(style=torch.randn(2, 384))
    out = rollout(model, context, cond, blocks=3, rng=random.Random(0))
    assert out.shape == (2, 12, 8) and out.requires_grad
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_a_guided_euler_rollout_is_the_block_the_engine_generates_from_the_same_noise():
    from lmdmlive.model import generate_block
    from lmdmlive.model.sampler import block_noise
    torch.manual_seed(0)
    model = small_lmdm().eval()
    context = torch.randn(1, 8, 8)
    cond = Conditions(style=torch.randn(1, 384))
    caches = [model.new_cache(1)]
    for i in range(0, 8, 4):                   # the context, a block at a time, as the engine appends it
        model.append(caches, context[:, i:i + 4])
    played = []
    for _ in range(2):
        played.append(generate_block(model, caches, cond, [7], steps=2, guidance=2.0, sampler="euler"))
    with torch.no_grad():
        out = rollout(model, context, cond, blocks=2, rng=random.Random(0), step_choices=(2,), guidance=2.0,
                      sampler="euler", noise=lambda k, shape: block_noise(7, 2 + k, shape))
    assert torch.allclose(out, torch.cat(played, dim=1), atol=1e-4)
    with torch.no_grad():                       # without guidance inside the loop it is another block
        # (the noise of generated block k is indexed after the 2 context blocks the cache holds)
        plain = rollout(model, context, cond, blocks=1, rng=random.Random(0), step_choices=(2,), guidance=1.0,
                        sampler="euler", noise=lambda k, shape: block_noise(7, 2 + k, shape))
    assert not torch.allclose(plain, played[0], atol=1e-3)


def test_a_rollout_under_a_sketch_and_controls_is_the_engines_layered_guidance_block_by_block():
    from lmdmlive.model import generate_block
    from lmdmlive.model.generate import CONTROL_GUIDANCE, SKETCH_GUIDANCE
    from lmdmlive.model.sampler import block_noise
    from lmdmlive.train.arc_lanes import block_conditions
    torch.manual_seed(0)
    model = small_lmdm().eval()
    cfg = model.cfg
    n_sk, n_arr = len(cfg.sketch_curves), len(cfg.arrangement)
    context = torch.randn(1, 8, 8)
    window = Conditions(style=torch.randn(1, 384), sketch=torch.randn(1, 8, n_sk), sketch_mask=torch.ones(1, 8, n_sk),
                        arrangement=torch.rand(1, n_arr), arrangement_mask=torch.ones(1, n_arr))
    caches = [model.new_cache(1)]
    for i in range(0, 8, 4):
        model.append(caches, context[:, i:i + 4])
    played = [generate_block(model, caches, block_conditions(window, 4 * k, 4 * k + 4), [3], steps=2, guidance=2.0,
                             sampler="euler") for k in range(2)]
    with torch.no_grad():
        out = rollout(model, context, lambda k: block_conditions(window, 4 * k, 4 * k + 4), blocks=2,
                      rng=random.Random(0), step_choices=(2,), guidance=2.0, sampler="euler",
                      noise=lambda k, shape: block_noise(3, 2 + k, shape), control_guidance=CONTROL_GUIDANCE,
                      sketch_guidance=SKETCH_GUIDANCE)
        style_only = rollout(model, context, Conditions(style=window.style), blocks=2, rng=random.Random(0),
                             step_choices=(2,), guidance=2.0, sampler="euler",
                             noise=lambda k, shape: block_noise(3, 2 + k, shape))
    assert torch.allclose(out, torch.cat(played, dim=1), atol=1e-4)
    assert not torch.allclose(out, style_only, atol=1e-3)          # the lanes changed what was played


def test_a_conditioned_gradient_plays_the_same_velocity_and_differentiates_the_full_branch_alone():
    from lmdmlive.model.generate import CONTROL_GUIDANCE, SKETCH_GUIDANCE
    torch.manual_seed(0)
    model = small_lmdm()
    cfg = model.cfg
    n_sk, n_arr = len(cfg.sketch_curves), len(cfg.arrangement)
    ctx, x, t = torch.randn(2, 8, 8), torch.randn(2, 4, 8), torch.tensor(0.6)
    cond = Conditions(style=torch.randn(2, 384), sketch=torch.randn(2, 4, n_sk), sketch_mask=torch.ones(2, 4, n_sk),
                      arrangement=torch.rand(2, n_arr), arrangement_mask=torch.ones(2, n_arr))

    def grads(velocity):
        model.zero_grad()
        v = velocity(x, t)
        v.pow(2).sum().backward()
        return v.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    scales = (2.0, CONTROL_GUIDANCE, SKETCH_GUIDANCE)
    every_v, every_g = grads(guided_velocity(model, ctx, cond, *scales, grad_branch="every"))
    cond_v, cond_g = grads(guided_velocity(model, ctx, cond, *scales, grad_branch="conditioned"))
    assert torch.allclose(every_v, cond_v, atol=1e-5)                     # what is played does not change
    model.zero_grad()                                                       # d/dθ of 2 v·v_full, v held fixed
    full = model.forward_naive(ctx, x, t.expand(2), cond.filled(cfg, 2, 4))
    (2 * cond_v * full).sum().backward()
    by_hand = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert torch.allclose(cond_g, by_hand, atol=1e-4)
    assert not torch.allclose(every_g, cond_g, atol=1e-3)                   # "every" weighs the other branches in
    with torch.no_grad():                                                   # sampling steps pay for no extra pass
        assert torch.equal(guided_velocity(model, ctx, cond, *scales, grad_branch="conditioned")(x, t),
                           guided_velocity(model, ctx, cond, *scales)(x, t))


def test_rollout_conditions_keep_the_prompt_and_drop_lanes_as_training_does():
    from lmdmlive.train.arc_lanes import window_conditions
    n = 4
    cond = Conditions(style=torch.randn(64, 384), sketch=torch.randn(64, 8, n), sketch_mask=torch.ones(64, 8, n),
                      arrangement=torch.rand(64, 3), arrangement_mask=torch.ones(64, 3))
    played = window_conditions(cond, torch.Generator().manual_seed(0))
    assert torch.equal(played.style, cond.style) and played.style_mask is None
    kept = played.sketch_mask[:, 0].mean()
    assert 0.35 < float(kept) < 0.65 and torch.equal(played.sketch_mask[:, 0], played.sketch_mask[:, -1])
    assert 0.35 < float(played.arrangement_mask.mean()) < 0.65
    bare = window_conditions(cond, torch.Generator().manual_seed(0), keep_lanes=False)
    assert bare.sketch is None and bare.arrangement is None
    mixed = window_conditions(cond, torch.Generator().manual_seed(0), bare_share=0.5)
    lanes_given = (mixed.sketch_mask.sum(dim=(1, 2)) + mixed.arrangement_mask.sum(dim=1)) > 0
    assert 0.25 < float(lanes_given.float().mean()) < 0.6           # about half keep some lane, the rest none
    assert torch.equal(mixed.style, cond.style)
    assert torch.equal(played.sketch_mask, window_conditions(cond, torch.Generator().manual_seed(0)).sketch_mask)


def test_gradients_reach_the_context_later_blocks_read_only_when_asked():
    model = small_lmdm()
    context = torch.randn(2, 8, 8)
    cond = Conditions(style=torch.randn(2, 384))
    grads = {}
    for mode in ("last", "all"):
        torch.manual_seed(1)
        out = rollout(model, context, cond, blocks=3, rng=random.Random(0), grad_blocks=mode)
        model.zero_grad()
        out[:, -4:].pow(2).sum().backward()          # the last block only
        grads[mode] = (out.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.equal(grads["last"][0], grads["all"][0])                   # the same rollout either way
    assert not torch.allclose(grads["last"][1], grads["all"][1])            # "all" adds the earlier blocks' paths


def test_warm_up_keeps_the_context_and_adds_generated_blocks():
    model = small_lmdm()
    context = torch.randn(2, 8, 8)
    style = torch.randn(2, 384)
    a = warm_history(model, context, style, blocks=2, seed=5, steps=2)
    b = warm_history(model, context, style, blocks=2, seed=5, steps=2)
    assert a.shape == (2, 16, 8) and torch.equal(a[:, :8], context) and torch.equal(a, b)
    assert torch.isfinite(a).all() and not torch.equal(a[:, 8:12], a[:, 12:16])


def test_trunk_heads_learn_real_from_fake_while_the_trunk_stays_frozen():
    torch.manual_seed(0)
    model = small_lmdm()
    d = TrunkDiscriminator(model)
    before = {k: v.clone() for k, v in d.trunk[0].state_dict().items()}
    assert not any(k.startswith("trunk") for k in d.state_dict())          # heads only are saved
    opt = torch.optim.Adam([p for p in d.parameters() if p.requires_grad], lr=3e-3)
    styles = torch.nn.functional.normalize(torch.randn(2, 384), dim=-1)
    for _ in range(100):
        real = torch.sin(torch.linspace(0, 6, 16))[None, :, None].expand(8, 16, 8) + 0.1 * torch.randn(8, 16, 8)
        style = styles.repeat(4, 1)
        fake = torch.randn(8, 16, 8)
        t, eps = torch.full((8,), 0.1), torch.randn(8, 16, 8)
        loss = relativistic(d(real, style, t, eps), d(fake, style, t, eps))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (d(real, style, t, eps) > d(fake, style, t, eps)).float().mean() > 0.9
    assert all(torch.equal(before[k], v) for k, v in d.trunk[0].state_dict().items())


def test_the_discriminator_learns_real_from_fake_and_its_prompt_from_another():
    torch.manual_seed(0)
    d = LatentDiscriminator(8)
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    styles = torch.nn.functional.normalize(torch.randn(2, 384), dim=-1)
    for _ in range(150):
        real = torch.sin(torch.linspace(0, 6, 16))[None, :, None].expand(8, 16, 8) + 0.1 * torch.randn(8, 16, 8)
        real = real * torch.tensor([1.0, -1.0]).repeat(4)[:, None, None]       # the prompt decides the sign
        style = styles.repeat(4, 1)
        fake = torch.randn(8, 16, 8)
        loss = relativistic(d(real, style), d(fake, style)) + relativistic(d(real, style), d(real, style.roll(1, 0)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (d(real, style) > d(fake, style)).float().mean() > 0.9
        assert (d(real, style) > d(real, style.roll(1, 0))).float().mean() > 0.9


def _save_init(path):
    model = small_lmdm(**{k: v for k, v in TINY.items() if k not in ("d_model", "n_layers", "n_heads")})
    save_checkpoint(model, model.cfg, path, "lmdm")


def first_rows(setup, tmp_path, option: str, weights, steps: int = 1, **options) -> dict:
    """The first log row of a short run from one tiny init for each weight of `option`; runs
    that differ in it alone draw the same windows, noise and lanes, so rows compare term by term."""
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    rows = {}
    for weight in weights:
        run = tmp_path / f"arc{weight}"
        train_arc(corpus, codec_path, tmp_path / "init", run, steps=steps, batch=2, context_blocks=2, rollout_blocks=2,
                  warmup_blocks=0, rollout_conditions="window", log=lambda m: None, **{option: weight}, **options)
        rows[weight] = read_log(run)[0]
    return rows


def test_train_arc_runs_logs_and_resumes(setup, tmp_path):
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    run = tmp_path / "arc"
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=3, batch=2, context_blocks=2, rollout_blocks=2,
              warmup_blocks=2, log=lambda m: None)
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=5, batch=2, context_blocks=2, rollout_blocks=2,
              warmup_blocks=2, export=tmp_path / "after", log=lambda m: None)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(set(r) >= {"d_loss", "g_loss", "d_real", "d_fake", "d_acc", "anchor", "warmup"} for r in rows)
    assert all(r["anchor"] > 0 and 0 <= r["warmup"] <= 2 for r in rows)
    assert (run / "discriminator-trunk" / "last.safetensors").exists()
    assert (tmp_path / "after.safetensors").exists()
    assert (run / "curve.png").stat().st_size > 10_000          # the curves of the discriminator and the anchor


def test_train_arc_says_which_discriminator_it_does_not_know(setup, tmp_path):
    import pytest
    corpus, codec_path, _ = setup
    with pytest.raises(ValueError, match="discriminator must be one of"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc", steps=1, discriminator="trunks")
    with pytest.raises(ValueError, match="grad_branch must be one of"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc", steps=1, grad_branch="full")


def test_the_discriminator_takes_as_many_updates_per_step_as_asked(setup, tmp_path):
    import json

    import pytest
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    run = tmp_path / "arc"
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=2, batch=2, context_blocks=2, rollout_blocks=2,
              warmup_blocks=0, anchor=0.0, disc_steps=3, log=lambda m: None)

    def adam_steps(folder):
        scalars = json.loads((folder / "last.json").read_text())["optimizer_scalars"]
        return {v for k, v in scalars.items() if k.endswith(".step")}

    assert adam_steps(run / "discriminator-trunk") == {6.0}
    assert adam_steps(run / "generator") == {2.0}
    with pytest.raises(ValueError, match="disc_steps must be 1 or more"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc0", steps=1, disc_steps=0)


def test_the_trunk_discriminator_reads_a_window_under_the_lanes_it_was_played_under():
    torch.manual_seed(0)
    model = small_lmdm()
    d = TrunkDiscriminator(model)
    x, style = torch.randn(2, 16, 8), torch.nn.functional.normalize(torch.randn(2, 384), dim=-1)
    t, eps = torch.full((2,), 0.1), torch.randn(2, 16, 8)
    n = len(model.cfg.sketch_curves)
    sketch = torch.randn(2, 16, n)
    with torch.no_grad():
        plain = d(x, style, t, eps)
        # lanes bring their sketch, never their own prompt: the window's prompt is `style`
        assert torch.allclose(d(x, style, t, eps, lanes=Conditions(style=style.roll(1, 0))), plain)
        under = d(x, style, t, eps, lanes=Conditions(sketch=sketch, sketch_mask=torch.ones(2, 16, n)))
        other = d(x, style, t, eps, lanes=Conditions(sketch=-sketch, sketch_mask=torch.ones(2, 16, n)))
    assert not torch.allclose(under, plain) and not torch.allclose(under, other)


def test_a_window_is_read_under_the_previous_items_lanes_and_bare_lanes_are_not_counted():
    n = 5
    sketch_mask = torch.ones(3, 4, n)
    sketch_mask[2] = 0                                            # the third item plays its prompt alone
    arrangement_mask = torch.ones(3, 2)
    arrangement_mask[2] = 0
    lanes = Conditions(style=torch.randn(3, 384), sketch=torch.randn(3, 4, n), sketch_mask=sketch_mask,
                       arrangement=torch.rand(3, 2), arrangement_mask=arrangement_mask)
    other, said = swapped_lanes(lanes)
    assert torch.equal(other.style, lanes.style)                  # each keeps its own prompt
    for k in range(3):
        assert torch.equal(other.sketch[k], lanes.sketch[k - 1]) and torch.equal(other.arrangement[k],
                                                                                 lanes.arrangement[k - 1])
    assert said.tolist() == [0.0, 1.0, 1.0]                      # the first now reads the bare lanes: no contradiction
    high, low = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([5.0, 0.0, 0.0])
    assert float(relativistic(high, low, said)) == float(relativistic(high[1:], low[1:]))
    assert float(relativistic(high, low)) > float(relativistic(high, low, said))


def test_the_lane_swapped_term_enters_the_discriminators_loss(setup, tmp_path):
    first = first_rows(setup, tmp_path, "lane_contrastive", (0.0, 2.0), disc_conditions="lanes")
    # the same draws, the real and fake scores alike; the loss grows by the new term alone
    assert first[0.0]["d_real"] == first[2.0]["d_real"] and first[0.0]["d_fake"] == first[2.0]["d_fake"]
    assert first[2.0]["d_loss"] > first[0.0]["d_loss"]


def test_train_arc_reads_lanes_only_with_the_trunk(setup, tmp_path):
    import json

    import pytest
    corpus, codec_path, _ = setup
    _save_init(tmp_path / "init")
    run = tmp_path / "arc"
    train_arc(corpus, codec_path, tmp_path / "init", run, steps=2, batch=2, context_blocks=2, rollout_blocks=2,
              warmup_blocks=0, disc_conditions="lanes", guidance=2.0, grad_branch="conditioned", contrastive=3.0,
              rollout_conditions="mixed", lane_contrastive=2.0, log=lambda m: None)
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["disc_conditions"], summary["grad_branch"], summary["contrastive"],
            summary["rollout_conditions"], summary["lane_contrastive"]) == ("lanes", "conditioned", 3.0, "mixed", 2.0)
    assert [r["step"] for r in read_log(run)] == [1, 2]
    with pytest.raises(ValueError, match="only the trunk discriminator reads lanes"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc1", steps=1, discriminator="latent",
                  disc_conditions="lanes")
    with pytest.raises(ValueError, match="needs a discriminator that reads the lanes"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc2", steps=1, lane_contrastive=1.0)


def test_a_teacher_told_each_blocks_context_and_noise_plays_the_rollouts_blocks_at_its_steps():
    torch.manual_seed(0)
    model = small_lmdm().eval()
    other = small_lmdm().eval()                 # another init: another block from the same noise
    context = torch.randn(2, 8, 8)
    cond = Conditions(style=torch.randn(2, 384))
    same, apart = [], []

    def watch(k, ctx, block_cond, x):
        same.append(teacher_block(model, ctx, block_cond, x, 4, 2.0))
        apart.append(teacher_block(other, ctx, block_cond, x, 4, 2.0))
    with torch.no_grad():
        out = rollout(model, context, cond, blocks=2, rng=random.Random(0), step_choices=(4,), guidance=2.0,
                      sampler="euler", watch=watch)
    assert len(same) == 2
    assert torch.allclose(out, torch.cat(same, dim=1), atol=1e-5)
    assert not torch.allclose(out, torch.cat(apart, dim=1), atol=1e-2)


def test_the_distilled_distance_is_nothing_at_the_teachers_steps_and_counts_fewer(setup, tmp_path):
    rows = first_rows(setup, tmp_path, "step_choices", [(4,), (1,)], distill=1.0, sampler="euler")
    assert rows[(4,)]["distill"] < 1e-4, rows[(4,)]       # the student starts as its teacher
    assert rows[(1,)]["distill"] > 1e-3, rows[(1,)]


def test_the_teacher_plays_at_its_own_guidance_when_given_one(setup, tmp_path):
    rows = first_rows(setup, tmp_path, "teacher_guidance", [None, 2.0, 3.0], distill=1.0, sampler="euler",
                      step_choices=(4,), guidance=2.0)
    assert rows[None]["distill"] < 1e-4, rows[None]       # by default the rollout's: the student is its teacher
    assert rows[2.0]["distill"] < 1e-4, rows[2.0]
    assert rows[3.0]["distill"] > 100 * max(rows[2.0]["distill"], 1e-7), rows   # another guidance plays another block


def test_the_rollout_and_its_teacher_play_at_the_sketch_scale_asked(setup, tmp_path):
    common = {"distill": 1.0, "sampler": "euler", "step_choices": (4,), "guidance": 2.0}
    rows = first_rows(setup, tmp_path / "teacher", "teacher_sketch_guidance", [None, 4.0, 1.0], sketch_guidance=4.0,
                      **common)
    assert rows[None]["distill"] < 1e-4, rows[None]       # by default the rollout's scale: the student is its teacher
    assert rows[4.0]["distill"] < 1e-4, rows[4.0]
    assert rows[1.0]["distill"] > 100 * max(rows[4.0]["distill"], 1e-7), rows   # another scale plays another block
    rolled = first_rows(setup, tmp_path / "rollout", "sketch_guidance", [4.0, 1.0], **common)
    assert all(row["distill"] < 1e-4 for row in rolled.values()), rolled     # the teacher follows the rollout's scale
    assert abs(rolled[4.0]["d_fake"] - rolled[1.0]["d_fake"]) > 1e-4, rolled   # and the rollout plays at it


def test_distillation_asks_for_euler(setup, tmp_path):
    import pytest
    with pytest.raises(ValueError, match="--sampler euler"):
        first_rows(setup, tmp_path, "distill", [1.0], sampler="pingpong")


def test_the_teachers_cached_velocity_is_the_recomputed_one_under_every_guidance_layer():
    import pytest
    torch.manual_seed(0)
    model = small_lmdm().eval()                 # blocks of 4 frames, 3 blocks of context
    ctx = torch.randn(2, 12, 8)
    sketch = torch.randn(2, 4, len(model.cfg.sketch_curves))
    mask = (torch.rand(2, 4, len(model.cfg.sketch_curves)) > 0.5).float()
    arrangement = torch.rand(2, len(model.cfg.arrangement))
    conds = [Conditions(style=torch.randn(2, 384)),
             Conditions(style=torch.randn(2, 384), sketch=sketch, sketch_mask=mask, arrangement=arrangement,
                        arrangement_mask=torch.ones_like(arrangement))]
    x, t = torch.randn(2, 4, 8), torch.tensor(0.7)
    for cond in conds:
        for guidance, control, sketched in ((1.0, None, None), (2.0, None, None), (2.0, 24.0, 4.0)):
            with torch.no_grad():
                naive = guided_velocity(model, ctx, cond, guidance, control, sketched)(x, t)
                cached = cached_velocity(model, ctx, cond, guidance, control, sketched)(x, t)
            assert torch.allclose(naive, cached, atol=1e-4), (guidance, control, sketched)
    other = small_lmdm().eval()                 # the check can fail: another model's velocity is not the same
    with torch.no_grad():
        assert not torch.allclose(cached_velocity(other, ctx, conds[0], 2.0)(x, t),
                                  guided_velocity(model, ctx, conds[0], 2.0)(x, t), atol=1e-2)
    with pytest.raises(ValueError, match="whole blocks of 4 frames"):
        cached_velocity(model, ctx[:, :10], conds[0], 2.0)
