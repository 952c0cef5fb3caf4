"""A carried run resumes on the exact weights it saved, with its moments close, and never
overwrites a run that is further along."""
import json

import pytest
import torch
from safetensors.torch import load_file

from lmdmlive.train import carry
from lmdmlive.train.state import append_log, load_state, save_state


def _trained(steps=5):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model(torch.randn(8, 16)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def test_a_carried_run_resumes_on_its_weights_and_moments(tmp_path):
    model, opt = _trained()
    run = tmp_path / "run"
    save_state(run, model, opt, step=5, extra={"config": {"d": 16}})
    append_log(run, {"step": 5, "loss": 0.5})
    packed = carry.pack(run, tmp_path / "carry")
    stored = load_file(str(packed / "last.safetensors"))
    assert {v.dtype for k, v in stored.items() if k.startswith("opt.")} == {torch.bfloat16}
    assert {v.dtype for k, v in stored.items() if k.startswith("model.")} == {torch.float32}

    resumed = carry.unpack(packed, tmp_path / "again")
    model2, opt2 = _trained(steps=0)
    meta = load_state(resumed, model2, opt2)
    assert meta["step"] == 5 and meta["config"] == {"d": 16}
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
        for key in ("exp_avg", "exp_avg_sq"):
            want, got = opt.state[a][key], opt2.state[b][key]
            assert got.dtype == torch.float32
            assert torch.allclose(got, want, rtol=1e-2, atol=1e-12)
        assert int(opt2.state[b]["step"]) == 5
    assert json.loads((resumed / "log.jsonl").read_text().splitlines()[0])["loss"] == 0.5


def test_unpack_never_overwrites_a_saved_run(tmp_path):
    model, opt = _trained()
    save_state(tmp_path / "run", model, opt, step=5, extra={})
    packed = carry.pack(tmp_path / "run", tmp_path / "carry")
    with pytest.raises(FileExistsError, match="already holds a saved state"):
        carry.unpack(packed, tmp_path / "run")
    assert carry.main(["unpack", str(packed), str(tmp_path / "run")]) == 2


def test_packing_a_run_with_no_state_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved state"):
        carry.pack(tmp_path / "nothing", tmp_path / "carry")


def test_a_run_of_several_states_travels_whole(tmp_path):
    """`train arc` keeps its generator and its discriminator in folders of their own."""
    gen, gen_opt = _trained(steps=3)
    disc, disc_opt = _trained(steps=7)
    run = tmp_path / "arc"
    save_state(run / "generator", gen, gen_opt, step=3, extra={"who": "g"})
    save_state(run / "discriminator-trunk", disc, disc_opt, step=3, extra={})
    append_log(run, {"step": 3})
    back = carry.unpack(carry.pack(run, tmp_path / "carry"), tmp_path / "again")
    g2, g2_opt = _trained(steps=0)
    d2, d2_opt = _trained(steps=0)
    assert load_state(back / "generator", g2, g2_opt)["who"] == "g"
    load_state(back / "discriminator-trunk", d2, d2_opt)
    for want, got, want_opt, got_opt in ((gen, g2, gen_opt, g2_opt), (disc, d2, disc_opt, d2_opt)):
        for a, b in zip(want.parameters(), got.parameters()):
            assert torch.equal(a, b)
            assert torch.allclose(want_opt.state[a]["exp_avg_sq"], got_opt.state[b]["exp_avg_sq"], rtol=1e-2, atol=1e-12)
    assert not all(torch.equal(a, b) for a, b in zip(gen.parameters(), d2.parameters()))
    assert (back / "log.jsonl").exists() and not (tmp_path / "again.unpacking").exists()


def test_a_pack_replaces_an_older_carry_whole_and_never_packs_into_its_run(tmp_path):
    model, opt = _trained()
    save_state(tmp_path / "old" / "discriminator", model, opt, step=1, extra={})
    save_state(tmp_path / "old", model, opt, step=1, extra={})
    carry.pack(tmp_path / "old", tmp_path / "carry")
    save_state(tmp_path / "new", model, opt, step=9, extra={})
    carry.pack(tmp_path / "new", tmp_path / "carry")
    assert not (tmp_path / "carry" / "discriminator").exists()      # the old run's second state is gone
    assert json.loads((tmp_path / "carry" / "last.json").read_text())["step"] == 9
    with pytest.raises(ValueError, match="inside the run"):
        carry.pack(tmp_path / "new", tmp_path / "new" / "carry")


def test_a_save_that_falls_inside_a_pack_is_packed_again(tmp_path, monkeypatch):
    """A run still training may save while it is packed: the weights of one step must not
    travel with the counters of the next."""
    model, opt = _trained()
    run = tmp_path / "run"
    save_state(run, model, opt, step=5, extra={})
    convert, calls = carry._pack_state, []

    def saving_meanwhile(src, dst, lean):
        convert(src, dst, lean)
        if not calls:
            save_state(run, model, opt, step=6, extra={})      # the run saves once, mid-pack
        calls.append(dst)

    monkeypatch.setattr(carry, "_pack_state", saving_meanwhile)
    packed = carry.pack(run, tmp_path / "carry")
    assert len(calls) == 2
    assert json.loads((packed / "last.json").read_text())["step"] == 6


def test_a_lean_carry_keeps_the_weights_within_float16_and_gives_back_the_saved_dtypes(tmp_path):
    model, opt = _trained()
    with torch.no_grad():
        model[0].bias[0] = 1e6                          # past float16's range: must travel as float32
    run = tmp_path / "run"
    save_state(run, model, opt, step=5, extra={})
    packed = carry.pack(run, tmp_path / "carry", lean=True)
    stored = load_file(str(packed / "last.safetensors"))
    assert stored["model.0.weight"].dtype == torch.float16 and stored["model.0.bias"].dtype == torch.float32
    assert {v.dtype for k, v in stored.items() if k.startswith("opt.")} == {torch.bfloat16}
    model2, opt2 = _trained(steps=0)
    load_state(carry.unpack(packed, tmp_path / "again"), model2, opt2)
    for (name, a), b in zip(model.named_parameters(), model2.parameters()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, rtol=2 ** -11, atol=1e-7), name
    assert not torch.equal(model[0].weight, model2[0].weight)       # lean is not exact, and says so
    assert float(model2[0].bias[0]) == 1e6


def test_a_state_too_large_for_one_file_travels_in_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(carry, "PART_BYTES", 1000)
    model, opt = _trained()
    save_state(tmp_path / "run", model, opt, step=5, extra={})
    packed = carry.pack(tmp_path / "run", tmp_path / "carry")
    parts = sorted(p.name for p in packed.glob("last*.safetensors"))
    assert len(parts) > 2 and "last.part2.safetensors" in parts
    assert all(p.stat().st_size < 1000 + 4096 for p in packed.glob("last*.safetensors"))
    model2, opt2 = _trained(steps=0)
    back = carry.unpack(packed, tmp_path / "again")
    assert sorted(p.name for p in back.glob("last*.safetensors")) == ["last.safetensors"]
    load_state(back, model2, opt2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters()))


def test_a_carry_packed_before_dtypes_were_recorded_still_unpacks(tmp_path):
    """The codec run carried in session 14 has no dtype record: its moments go back to float32."""
    from safetensors.torch import save_file
    model, opt = _trained()
    save_state(tmp_path / "run", model, opt, step=5, extra={})
    old = tmp_path / "old"
    old.mkdir()
    tensors = load_file(str(tmp_path / "run" / "last.safetensors"))
    save_file({k: (v.bfloat16() if k.startswith("opt.") else v) for k, v in tensors.items()}, str(old / "last.safetensors"))
    (old / "last.json").write_bytes((tmp_path / "run" / "last.json").read_bytes())
    model2, opt2 = _trained(steps=0)
    load_state(carry.unpack(old, tmp_path / "again"), model2, opt2)
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b) and opt2.state[b]["exp_avg"].dtype == torch.float32


def test_a_lean_carry_of_a_beta1_zero_run_leaves_the_first_moments_out_and_resumes_the_same_steps(tmp_path):
    """With beta1 = 0 Adam's first moment is the last gradient; the next step overwrites it."""
    def fresh():
        torch.manual_seed(0)
        model = torch.nn.Linear(16, 4)
        return model, torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.0, 0.99))

    def step(model, opt, seed):
        g = torch.Generator().manual_seed(seed)
        loss = model(torch.randn(8, 16, generator=g)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    model, opt = fresh()
    for s in range(3):
        step(model, opt, s)
    save_state(tmp_path / "run", model, opt, step=3, extra={})
    packed = carry.pack(tmp_path / "run", tmp_path / "carry", lean=True)
    assert not [k for k in load_file(str(packed / "last.safetensors")) if k.endswith(".exp_avg")]
    model2, opt2 = fresh()
    load_state(carry.unpack(packed, tmp_path / "again"), model2, opt2)
    model3, opt3 = fresh()
    load_state(tmp_path / "run", model3, opt3)              # the full state, for the bar
    for m, o in ((model2, opt2), (model3, opt3)):
        step(m, o, 7)
    for a, b in zip(model2.parameters(), model3.parameters()):
        assert torch.allclose(a, b, rtol=2 ** -10, atol=1e-6)


def test_a_lean_carry_keeps_the_first_moments_of_a_run_that_uses_them(tmp_path):
    model, opt = _trained()                                  # AdamW's default beta1 = 0.9
    save_state(tmp_path / "run", model, opt, step=5, extra={})
    packed = carry.pack(tmp_path / "run", tmp_path / "carry", lean=True)
    assert [k for k in load_file(str(packed / "last.safetensors")) if k.endswith(".exp_avg")]
