"""Quick figures of the shipped model on a fixed handful of test pieces: the suite's guard.

Losing an asset, shipping weights that do not match their card, or a change anywhere
in the sampler, the conditioning or the codec that costs quality should fail a test,
not wait for someone to run the hour-long `eval model`. So a handful of pieces of the
`test` split (named in the figures file, rendered by the corpus code itself, so no
corpus has to be built first) are evaluated exactly as `eval model` does, with fixed
seeds, and the figures are compared with those recorded beside the assets when the
model shipped. `lmdmlive eval quick --write` records them again when a new model
ships; `lmdmlive eval quick` compares.

Tolerances allow what float arithmetic on another CPU of the same kind may change (one
attribute judged the other way out of the handful, a few hundredths of correlation),
not a regression: a model that stops obeying or a codec that stops sounding like music
moves these figures by far more.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..model.default import ASSETS
from .corpus.build import SAMPLE_RATE, PlanItem, process
from .corpus.shards import ShardWriter

FIGURES_PATH = ASSETS / "quick_figures.json"
PIECES = 12
SECONDS = 8.0
MIN_PIECE_SECONDS = 10.0
ABSOLUTE = {"prompt_acc": 0.15, "prompt_acc_signal": 0.15, "loud_corr": 0.1,
            "bright_corr": 0.1, "pitch_acc": 0.1}
RELATIVE = {"fad_ratio": 0.5, "fad_mel_ratio": 0.5}
"""Allowed change: absolute for accuracies and correlations, relative for the distance ratios."""


def asset_hashes() -> dict[str, str]:
    from ..model.checkpoint import file_sha256
    return {p.name: file_sha256(p) for p in sorted(ASSETS.glob("*.safetensors"))}


def choose_pieces(count: int = PIECES, seed: int = 0, log=print) -> list[dict]:
    """The first `count` test pieces of the seed's corpus plan that render to at least
    MIN_PIECE_SECONDS (slow: it reads music21's catalogue; only `--write` needs it)."""
    from .corpus.build import plan, split_of
    from .splits import eval_split_of
    chosen = []
    for item in plan(seed):
        if split_of(item.piece_id, seed) != "heldout" or eval_split_of(item.piece_id) != "test":
            continue
        try:
            meta = process(item, seed)[0]
        except Exception as e:      # a piece that does not render is passed over, as the build does
            log(f"passed over {item.piece_id}: {e}")
            continue
        if meta["seconds"] >= MIN_PIECE_SECONDS:
            chosen.append({"kind": item.kind, "source": item.source, "number": item.number, "family": item.family})
        if len(chosen) == count:
            return chosen
    raise ValueError(f"the plan holds fewer than {count} test pieces of {MIN_PIECE_SECONDS:g} s")


def render_pieces(pieces: list[dict], out: Path, seed: int = 0) -> Path:
    """A corpus whose held-out split is exactly these pieces, rendered as `corpus build` renders them."""
    writer = ShardWriter(out, "heldout", SAMPLE_RATE)
    have = {r["piece"] for r in writer.records}
    for p in pieces:
        item = PlanItem(p["kind"], p["source"], p["number"], p["family"])
        if item.piece_id not in have:
            writer.add(*process(item, seed))
    return Path(out)


def measure(bundle, judges, corpus: Path, codec_path: Path, embed) -> dict:
    """The quick figures: `eval model` on the rendered pieces with fixed seeds (one third prompt,
    one third is the reference, one third the floor). The arrangement controls are left to the
    full evaluation: fourteen generations per clip would cost the suite more than all the rest."""
    from .eval_model import evaluate_model
    r = evaluate_model(bundle.lmdm, bundle.codec, corpus, codec_path, judges, embed, split="test",
                       clips=PIECES // 3, control_clips=0, seconds=SECONDS, seed=0)
    return {k: float(r[k]) for k in (*ABSOLUTE, *RELATIVE)}


def compare(figures: dict, recorded: dict) -> list[str]:
    """One line per figure outside its tolerance (empty when all hold)."""
    bad = []
    for k, tol in ABSOLUTE.items():
        if abs(figures[k] - recorded[k]) > tol:
            bad.append(f"{k} {figures[k]:.3f}, recorded {recorded[k]:.3f} (tolerance ±{tol})")
    for k, tol in RELATIVE.items():
        if abs(figures[k] - recorded[k]) > tol * abs(recorded[k]):
            bad.append(f"{k} {figures[k]:.3f}, recorded {recorded[k]:.3f} (tolerance ±{tol:.0%})")
    return bad


def read_recorded(path: Path = FIGURES_PATH) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no recorded quick figures; `lmdmlive eval quick --write` records them")
    return json.loads(path.read_text())


def write_recorded(figures: dict, pieces: list[dict], path: Path = FIGURES_PATH) -> None:
    payload = {"figures": figures, "pieces": pieces, "seconds": SECONDS, "seed": 0, "assets": asset_hashes(),
               "tolerance": {"absolute": ABSOLUTE, "relative": RELATIVE}}
    path.write_text(json.dumps(payload, indent=1) + "\n")
