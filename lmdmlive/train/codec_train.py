"""`lmdmlive train codec`: the codec trained as a VAE on corpus audio, resumable, logged.

Losses: multi-resolution STFT (log-magnitude L1 + spectral convergence) and log-mel
L1 on random one-second crops, plus a small KL term that keeps the latents near a
unit Gaussian, which is what the diffusion model will have to fit. With
`adversarial`, also a log-mel discriminator's least-squares and feature-matching
terms (codec_disc.py) on part of each batch: it costs CPU time per step, and whether
it buys that back is what the option is there to measure (docs/dev/codec.md). With
`periodicity`, also how much less the decoded frames repeat at their period than the
input's (codec_pitch.py): what the pitch tracker hears and the spectral distances do not.
With `fine`, a distance through a window long enough to place a low partial
(spectral.fine_stft_distance); with `gate`, a carried phase head's gates taught where the
input holds a partial (codec_phase.gate_loss). The crops come from crops.py.
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from ..model import Codec, CodecConfig, save_checkpoint
from ..model.codec import kl_to_prior
from .codec_disc import ADV_WEIGHT, FM_WEIGHT, CodecAdversary
from .codec_grow import GROWABLE, check_growth, differs_only_in_growth, grown
from ..model.codec_harmonic import harmonic_losses
from .codec_pitch import harmonic_targets, periodicity_loss
from .codec_phase import advance_loss, gate_loss, heard_frames, phase_loss
from .crops import CropSampler
from .device import autocast, training_device
from .spectral import fine_stft_distance, mel_l1, stft_distance
from .state import append_log, forget_lost_steps, load_state, read_log, save_state

KL_WEIGHT = 1e-4
ADVANCE_WEIGHT = 1.0   # a carried phase head's advance loss (advance_loss), beside spectral losses of about 1.5
PHASE_WEIGHT = 1.0     # and how its output's phase turns against the input's (phase_loss)
HARMONIC_WEIGHT = 0.1  # a harmonic branch's note (cross-entropy, ln 88 = 4.5 at the start) and voicing
ADV_ITEMS = 4          # crops of each batch the discriminator sees: its cost grows with them


def codec_losses(codec: Codec, wave: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
    return reconstruction_losses(codec, wave, sample)[0]


def reconstruction_losses(codec: Codec, wave: torch.Tensor, sample: bool = True, absolute_phase: bool = False,
                          periodicity: float = 0.0, harmonic_teacher: bool = False, fine: float = 0.0,
                          gate: float = 0.0, advance_peaks: bool = False):
    """(losses, reconstructed audio): the adversary needs the audio as well as the distances.

    A carried head is always taught its advance and its output's turns; `absolute_phase` also
    scores an absolute head's turns (phase_loss), which the spectral losses leave free.
    `periodicity` weighs codec_pitch.periodicity_loss, `fine` spectral.fine_stft_distance and `gate`
    codec_phase.gate_loss (a carried head's; none is computed at 0). `advance_peaks` teaches the
    advances at the input's partials alone (codec_phase.advance_loss). `harmonic_teacher` makes a
    harmonic branch play the tracker's f0 where it hears one (teacher forcing)."""
    cfg = codec.cfg
    mean, logvar = codec.encode_stats(wave)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
    targets = taught_f0 = None
    if cfg.harmonics:
        targets = harmonic_targets(wave, z.shape[1] * cfg.hop // cfg.stft_hop, cfg.sample_rate, cfg.stft_hop,
                                   cfg.decoder_delay)
        if harmonic_teacher:
            f0, voiced, known = targets
            taught_f0 = f0 * voiced * known
    recon, advance, phasors, named, gates = codec.decode_with_phase(z, taught_f0)
    kl = kl_to_prior(mean, logvar).mean()
    ref, est = codec.aligned(wave, recon)
    mel = mel_l1(ref, est, codec.cfg.sample_rate)
    stft = stft_distance(ref, est)
    losses = {"loss": mel + stft + KL_WEIGHT * kl, "mel_l1": mel, "stft": stft, "kl": kl}
    needs_heard = advance is not None or (phasors is not None and absolute_phase) or named is not None \
        or (gate > 0 and gates is not None)
    heard = heard_frames(codec, wave) if needs_heard else None     # one STFT of the batch for every phase term
    if advance is not None:
        losses["advance"] = advance_loss(heard, advance, peaks=advance_peaks)
        losses["loss"] = losses["loss"] + ADVANCE_WEIGHT * losses["advance"]
    # a locked decode of taught advances builds its phasors from detached advances: nothing learns from the term
    if phasors is not None and phasors.requires_grad and (advance is not None or absolute_phase):
        losses["phase"] = phase_loss(heard, phasors)
        losses["loss"] = losses["loss"] + PHASE_WEIGHT * losses["phase"]
    if named is not None:                  # a harmonic branch: taught the input's note, voicing and partials
        taught = harmonic_losses(named, *targets, heard=heard[:, :named["f0"].shape[1]],
                                 level=codec.dec_harmonic.level, n_fft=cfg.n_fft, sample_rate=cfg.sample_rate)
        losses.update(taught)
        losses["loss"] = losses["loss"] + HARMONIC_WEIGHT * (taught["note"] + taught["voicing"] + taught["amplitude"])
    if periodicity > 0:
        losses["periodicity"] = periodicity_loss(ref, est, codec.cfg.sample_rate)
        losses["loss"] = losses["loss"] + periodicity * losses["periodicity"]
    if fine > 0:
        losses["fine"] = fine_stft_distance(ref, est, codec.cfg.sample_rate)
        losses["loss"] = losses["loss"] + fine * losses["fine"]
    if gate > 0 and gates is not None:
        losses["gate"] = gate_loss(heard, gates)
        losses["loss"] = losses["loss"] + gate * losses["gate"]
    return losses, recon


def plot_curve(run: Path, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = read_log(run)
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    for key in ("mel_l1", "stft", "periodicity", "fine", "gate"):
        if any(key in r for r in rows):
            ax.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=f"train {key}")
    held = [r for r in rows if "heldout_mel_l1" in r]
    if held:
        ax.plot([r["step"] for r in held], [r["heldout_mel_l1"] for r in held], "o-", label="held-out mel_l1")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("codec training", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _saved_meta(run: Path) -> dict:
    path = run / "last.json"
    return json.loads(path.read_text()) if path.exists() else {}


def saved_config(run: Path) -> CodecConfig | None:
    """The config a stopped run was made with, so a resume may repeat the shape options it was started with."""
    saved = _saved_meta(run).get("config")
    return CodecConfig(**saved) if saved is not None else None


def init_config(init: Path) -> CodecConfig:
    """The config of an --init checkpoint, read from its card without loading its weights."""
    from ..model.checkpoint import read_card
    return CodecConfig.from_dict(read_card(init)["config"], where=f"{init}: codec config")


def _run_config(run: Path, saved: dict | None, asked: CodecConfig | None) -> CodecConfig:
    if saved is None:
        return asked or CodecConfig()
    saved = CodecConfig(**saved)
    if asked is not None and asked != saved:
        raise ValueError(f"{run} was made with a different codec config ({saved}); "
                         "resume it without shape options, or train into a new --run")
    return saved


def _kept(run: Path, saved: dict, key: str, asked: float | None, what: str, log) -> float:
    """A training option a resumed run keeps unless asked otherwise; a change is logged, from this step on."""
    before = float(saved.get(key, 0.0))
    if asked is None:
        return before
    if saved and asked != before:
        log(f"{run}: {what} {before} -> {asked} from this step on")
    return float(asked)


DECODER_ONLY_FIELDS = ("phase_head", "decoder_delay", "harmonics", "phase_lock")
"""Config fields a run may change from its --init codec: they shape the decoder's output, not its tensors'
meaning, so the encoder (and every latent made with it) carries over."""


def _check_init(init: Path, start: CodecConfig, config: CodecConfig, freeze_encoder: bool) -> None:
    if not differs_only_in_growth(start, config, DECODER_ONLY_FIELDS):
        raise ValueError(f"{init}: its config differs from the one being trained beyond "
                         f"{DECODER_ONLY_FIELDS + GROWABLE}; train with its config")
    check_growth(start, config, str(init))
    growing = [k for k in GROWABLE if getattr(start, k) != getattr(config, k)]
    if freeze_encoder and growing:
        raise ValueError(f"{init}: growing {' and '.join(growing)} changes the latents, which --freeze-encoder "
                         "keeps as they are; drop one of the two")
    if start.harmonics and config.harmonics != start.harmonics:
        raise ValueError(f"{init}: its harmonic branch has {start.harmonics} partials and cannot change to "
                         f"{config.harmonics} (its config differs); train with --harmonics {start.harmonics}")
    if start.phase_head == "carried" and config.phase_head == "absolute":
        raise ValueError(f"{init}: a carried phase head cannot go back to an absolute one (its config differs)")


def train_codec(corpus: Path, run: Path, *, steps: int, minutes: float | None, batch: int = 16, seconds: float = 1.0,
                lr: float = 1e-3, seed: int = 0, save_every: int = 200, export: Path | None = None,
                config: CodecConfig | None = None, init: Path | None = None, freeze_encoder: bool = False,
                adversarial: bool = False, absolute_phase: bool = False, periodicity: float | None = None,
                harmonic_teacher: float | None = None, harmonic_duck: float | None = None, tones: float | None = None,
                fine: float | None = None, gate: float | None = None, taught_advance: bool = False,
                advance_peaks: bool = False, device: str = "cpu", progress=None, log=print) -> dict:
    """Train (or go on training) the codec in `run`.

    `config` None means the run's own (a resumed run keeps the shape it was made with),
    or the default for a new run; one that differs from a resumed run's is an error.

    `freeze_encoder` trains the decoder alone: the latents stay exactly what they were,
    so a diffusion model already trained on them keeps working with the better decoder.
    `adversarial` adds the discriminator, whose state lives in RUN/discriminator.
    `absolute_phase` scores an absolute head's phase turns too (reconstruction_losses); a run
    started with it goes on with it.
    `harmonic_teacher` is the share of steps (drawn per step from the step number) on which a
    harmonic branch plays the tracker's f0 (HarmonicBranch.spectrum); a resumed run keeps its own.
    `harmonic_duck` sets how far the decoder's own spectrum gives way under a harmonic branch's
    partials (HarmonicBranch._cover; a buffer, so the checkpoint keeps it); a silent branch set
    to duck is woken at level 1, since from 0 its partials get no gradient of steady sign.
    `tones` is the share of training crops that are a tone (CropSampler); a resumed run keeps its own,
    and so do `fine` and `gate`, the weights of reconstruction_losses' terms of those names.
    `taught_advance` lets a carried head's advances learn from their own term alone
    (Codec.taught_advance); a run started with it goes on with it, and so does one started with
    `advance_peaks` (reconstruction_losses).
    `device` is cpu or cuda (train/device.py); crops are read on the CPU and moved.
    """
    where = training_device(device)
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)     # tiny gradients in denormal range slow CPU kernels tenfold
    run.mkdir(parents=True, exist_ok=True)
    saved = _saved_meta(run)
    if config is None and init is not None and not saved:
        config = init_config(init)              # a new run from --init keeps its shape unless told otherwise
    config = _run_config(run, saved.get("config"), config)
    if not freeze_encoder and saved.get("freeze_encoder"):
        log(f"{run} trains the decoder alone (it was started with --freeze-encoder), and goes on that way")
        freeze_encoder = True       # else a resume without the flag would quietly move the latents
    absolute_phase = absolute_phase or bool(saved.get("absolute_phase"))
    periodicity = _kept(run, saved, "periodicity", periodicity, "periodicity weight", log)
    harmonic_teacher = _kept(run, saved, "harmonic_teacher", harmonic_teacher, "harmonic teacher share", log)
    tones = _kept(run, saved, "tones", tones, "tone share", log)
    fine = _kept(run, saved, "fine", fine, "fine distance weight", log)
    gate = _kept(run, saved, "gate", gate, "gate weight", log)
    taught_advance = taught_advance or bool(saved.get("taught_advance"))
    if advance_peaks and saved and not saved.get("advance_peaks"):
        log(f"{run}: its advances are taught at the input's partials alone from this step on")
    advance_peaks = advance_peaks or bool(saved.get("advance_peaks"))
    for asked, option in ((gate > 0, "--gate"), (taught_advance, "--taught-advance"),
                          (advance_peaks, "--advance-peaks")):
        if asked and config.phase_head != "carried":
            raise ValueError(f"{run}: {option} is for a carried phase head; this codec's head is "
                             f"{config.phase_head} (add --phase-head carried)")
    if (harmonic_teacher > 0 or harmonic_duck) and not config.harmonics:
        raise ValueError(f"{run}: --harmonic-teacher and --harmonic-duck need a harmonic branch (--harmonics K)")
    codec = Codec(config).to(where)
    codec.taught_advance = taught_advance
    if freeze_encoder:
        for name, p in codec.named_parameters():
            p.requires_grad_(name.startswith("dec_"))
    opt = torch.optim.AdamW([p for p in codec.parameters() if p.requires_grad], lr=lr, betas=(0.8, 0.99),
                            weight_decay=1e-4)
    meta = load_state(run, codec, opt)
    adversary = d_opt = None
    if adversarial:
        adversary = CodecAdversary(config.sample_rate).to(where)
        d_opt = torch.optim.AdamW(adversary.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=1e-4)
        load_state(run / "discriminator", adversary, d_opt)
    step = meta["step"] if meta else 0
    forget_lost_steps(run, step)
    if meta:
        log(f"resuming {run} at step {step}")
    elif init is not None:
        from ..model import load_codec
        start = load_codec(init)
        _check_init(init, start.cfg, config, freeze_encoder)
        codec.load_state_dict(grown(config, start))
        if start.cfg.phase_head != config.phase_head:
            log(f"{init}: its absolute phase head grows a carried one")
        if (start.cfg.latent_dim, start.cfg.encoder_phase) != (config.latent_dim, config.encoder_phase):
            log(f"{init}: grown from {start.cfg.latent_dim} to {config.latent_dim} latent channels"
                + (", its encoder reading phase" if config.encoder_phase and not start.cfg.encoder_phase else ""))
        from ..model.checkpoint import read_card
        step = int(read_card(init).get("extra", {}).get("steps", 0))
        log(f"starting from {init} (trained {step} steps before; optimizer state starts fresh)")
    if harmonic_duck is not None:
        branch = codec.dec_harmonic
        with torch.no_grad():
            if float(branch.duck) != harmonic_duck:
                log(f"{run}: the decoder gives way under the partials by {harmonic_duck} (was {float(branch.duck)})")
            branch.duck.fill_(harmonic_duck)
            if harmonic_duck > 0 and float(branch.level) == 0.0:
                branch.level.fill_(1.0)
                log(f"{run}: the silent harmonic branch is woken at level 1")
    samples = int(seconds * config.sample_rate) // config.hop * config.hop
    train = CropSampler(corpus, "train", samples, seed + step, tones=tones)
    held = CropSampler(corpus, "heldout", samples, 12345, eval_split="valid")    # test stays unseen
    held_batch = held.batch(16).to(where)
    deadline = time.monotonic() + minutes * 60 if minutes else None
    state_meta = {"config": config.to_dict(), "seed": seed, "freeze_encoder": freeze_encoder,
                  "absolute_phase": absolute_phase, "periodicity": periodicity, "harmonic_teacher": harmonic_teacher,
                  "tones": tones, "fine": fine, "gate": gate,
                  "taught_advance": taught_advance, "advance_peaks": advance_peaks}
    codec.train()
    t0 = time.monotonic()
    while step < steps and (deadline is None or time.monotonic() < deadline):
        warm = min(1.0, (step + 1) / min(500, max(1, steps // 10)))
        for g in opt.param_groups + (d_opt.param_groups if d_opt else []):
            g["lr"] = lr * warm * (0.5 * (1 + math.cos(math.pi * min(1.0, step / max(steps, 1)))) * 0.9 + 0.1)
        wave = train.batch(batch)
        wave = (wave * torch.empty(batch, 1).uniform_(0.5, 1.5)).to(where)      # level augmentation
        with autocast(where):
            teach = harmonic_teacher > 0 and random.Random(seed * 1_000_003 + step).random() < harmonic_teacher
            losses, recon = reconstruction_losses(codec, wave, absolute_phase=absolute_phase,
                                                 periodicity=periodicity, harmonic_teacher=teach, fine=fine,
                                                 gate=gate, advance_peaks=advance_peaks)
        if adversary is not None:
            real, fake = wave[:ADV_ITEMS], recon[:ADV_ITEMS]
            d_opt.zero_grad(set_to_none=True)
            with autocast(where):
                d_loss = adversary.discriminator_loss(real, fake)
            d_loss.backward()
            d_opt.step()
            with autocast(where):
                adv, fm = adversary.generator_losses(real, fake)
            losses.update(loss=losses["loss"] + ADV_WEIGHT * adv + FM_WEIGHT * fm, adv=adv, fm=fm, d_loss=d_loss)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in codec.parameters() if p.requires_grad], 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            row = {"step": step, "seconds": round(time.monotonic() - t0, 1), "lr": opt.param_groups[0]["lr"],
                   **{k: round(float(v.detach()), 5) for k, v in losses.items()}}
            if config.harmonics:              # a branch's level says whether it is heard yet
                row["harmonic_level"] = round(float(codec.dec_harmonic.level.detach()), 6)
                row["taught"] = bool(teach)
            if step % save_every == 0:
                codec.eval()
                with torch.no_grad():
                    row["heldout_mel_l1"] = round(float(codec_losses(codec, held_batch, sample=False)["mel_l1"]), 5)
                codec.train()
            append_log(run, row)
        if step % save_every == 0:
            save_state(run, codec, opt, step, state_meta)
            if adversary is not None:
                save_state(run / "discriminator", adversary, d_opt, step, {})
            plot_curve(run, run / "curve.png")
        if progress is not None:
            progress(step, steps)
    save_state(run, codec, opt, step, state_meta)
    if adversary is not None:
        save_state(run / "discriminator", adversary, d_opt, step, {})
    plot_curve(run, run / "curve.png")
    codec.eval()
    if export is not None:
        save_checkpoint(codec.cpu(), config, export, "codec", extra={"steps": step, "corpus": str(corpus)})
    return {"step": step}
