"""`--device`: every training command takes it; on this CPU-only machine the CUDA path is
checked the way it can be here: a device that is not there is refused before anything is
read or written, and every tensor a training step makes follows its inputs' device (run
on PyTorch's `meta` device, where a tensor left on the CPU is an error, as on a GPU)."""
import subprocess
import sys

import pytest
import torch

from lmdmlive.cli.args import EXIT_USAGE
from lmdmlive.cli.main import main
from lmdmlive.model import Codec, CodecConfig, Conditions, LMDM, LMDMConfig
from lmdmlive.train.codec_train import reconstruction_losses
from lmdmlive.train.device import autocast, to_device, training_device
from lmdmlive.train.lmdm_train import StageModule, stage_loss

TINY_CODEC = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8)
TINY = dict(d_model=64, n_layers=2, n_heads=4, block_frames=4, context_blocks=3, latent_dim=8)
COMMANDS = (["codec"], ["base"], ["lmdm"], ["arc", "--init", "x"], ["audio-prompt"], ["classifier"])


def test_cpu_is_the_default_and_a_bad_name_says_what_to_use():
    assert training_device(None) == torch.device("cpu")
    assert training_device(" CPU ") == torch.device("cpu")
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        training_device("gpu")
    with pytest.raises(ValueError, match="cpu or cuda, not meta"):
        training_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="no CUDA device.*--device cpu"):
        training_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_training_command_refuses_a_missing_gpu_before_touching_its_run(command, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", *command, "--device", "cuda", "--corpus", str(tmp_path / "nothing"), "--run", str(run)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "no CUDA device" in err and "--device cpu" in err, err
    assert not run.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_finetune_refuses_a_missing_gpu_before_reading_the_folder(tmp_path):
    """Once through the console script, as a performer types it."""
    r = subprocess.run([sys.executable, "-m", "lmdmlive", "finetune", str(tmp_path), "-o", "mine", "--device", "cuda",
                        "--dir", str(tmp_path / "adapters")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no CUDA device" in r.stderr, r.stderr
    assert not (tmp_path / "adapters").exists()


def test_autocast_is_bf16_on_cuda_and_nothing_on_the_cpu():
    with autocast(torch.device("cpu")):
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.float32
    ctx = autocast(torch.device("cuda"))
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_batches_move_whole_including_the_conditions_inside():
    cond = Conditions(style=torch.zeros(2, 3), sketch=None)
    moved = to_device((torch.ones(2), {"c": cond}, [torch.zeros(1)], "label"), torch.device("meta"))
    assert moved[0].device.type == "meta" and moved[2][0].device.type == "meta" and moved[3] == "label"
    assert moved[1]["c"].style.device.type == "meta" and moved[1]["c"].sketch is None


@pytest.mark.parametrize("stage", ["base", "lmdm"])
def test_a_model_training_step_makes_every_tensor_on_its_inputs_device(stage):
    model = LMDM(LMDMConfig(**TINY)).to("meta")
    x0 = torch.randn(2, 12, 8, device="meta")
    cond = Conditions(style=torch.randn(2, model.cfg.style_dim, device="meta"))
    loss = stage_loss(StageModule(model), stage, x0, cond, torch.Generator().manual_seed(0), 0.05)
    assert loss.device.type == "meta"


def test_a_codec_training_step_makes_every_tensor_on_its_inputs_device():
    for cfg in (TINY_CODEC, CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8,
                                         encoder_phase=True, phase_head="carried", decoder_delay=3)):
        codec = Codec(cfg).to("meta")
        losses, recon = reconstruction_losses(codec, torch.randn(2, 4 * cfg.hop, device="meta"))
        assert recon.device.type == "meta" and all(v.device.type == "meta" for v in losses.values())
