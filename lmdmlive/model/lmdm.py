"""The Live Music Diffusion Model: a latent diffusion transformer made streamable.

Latent frames are tokens. Time is cut into blocks of `block_frames` frames; a block
attends to itself (bidirectionally) and to the `context_blocks` blocks before it.

- Clean context tokens carry no noise and no condition (their adaLN modulation is a
  learned constant), so their keys and values depend only on the past: they are
  computed once per block and cached (`BlockCache`).
- The noisy target block is the only thing recomputed at each denoising step. It
  alone carries the timestep, the style vector, the arrangement knobs (via adaLN) and
  the per-frame sketch curves and input-audio latents (added to its tokens). Because
  the prompt never touches context tokens, changing it never invalidates the cache.
- `forward_naive` runs the same weights on context + target from scratch with the
  equivalent block-causal sliding-window mask: the outpainting baseline, and the
  reference the cached path is tested against.

The network predicts the flow-matching velocity (noise - clean) of the target block.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conditioning import Conditions
from .config import LMDMConfig
from .int8 import weights_key
from .kv_cache import AttentionPrefix, BlockCache
from .layers import Block, TimestepEmbedding, modulate, pitch_fourier
from .lmdm_growth import grown_state
from .rope import Rotary


MODULATION_MEMO = 64
"""Entries of the cached path's memo of target modulations (noise level x conditions) before it starts over."""


class LMDM(nn.Module):
    def __init__(self, cfg: LMDMConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d, n_sk, n_arr = cfg.d_model, len(cfg.sketch_curves), len(cfg.arrangement)
        self.in_proj = nn.Linear(cfg.latent_dim, d)
        self.sketch_proj = nn.Linear(2 * n_sk, d)
        self.audio_proj = nn.Linear(cfg.latent_dim + 1, d)
        self.t_embed = TimestepEmbedding(d)
        self.style_proj = nn.Linear(cfg.style_dim + 1, d)
        self.arrangement_proj = nn.Linear(2 * n_arr, d)
        self.pitch_index = cfg.sketch_curves.index("pitch") if "pitch" in cfg.sketch_curves else None
        self.pitch_proj = None
        if cfg.pitch_features and self.pitch_index is not None:
            self.pitch_proj = nn.Linear(2 * cfg.pitch_features, d)
        self.context_cond = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ada = nn.Linear(d, 6 * d)   # adaLN-Zero: every block starts as the identity
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, cfg.latent_dim)
        for m in (self.ada, self.sketch_proj, self.audio_proj, self.final_ada, self.out_proj, self.pitch_proj):
            if m is not None:
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
        self.rotary = Rotary(cfg.head_dim, cfg.rope_base)
        # The model works on latents standardised per channel over the training corpus;
        # these travel with the weights, so any caller converts with to_codec/from_codec.
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("latent_std", torch.ones(cfg.latent_dim))

    def from_codec(self, z: torch.Tensor) -> torch.Tensor:
        """Codec latents -> the model's standardised latents."""
        return (z - self.latent_mean) / self.latent_std

    def to_codec(self, x: torch.Tensor) -> torch.Tensor:
        """The model's latents -> codec latents, ready for the decoder."""
        return x * self.latent_std + self.latent_mean

    # ---- tokens and modulation ------------------------------------------------------

    def _target_conditioning(self, cond: Conditions, B: int, T: int, dtype):
        """What target tokens take from their conditions, the same at every denoising step of a block:
        the per-frame inputs added to the tokens (a list, summed in its order), and the vector (B, d)
        added to the timestep embedding."""
        c = cond.filled(self.cfg, B, T, dtype)
        sk_mask = c.sketch_mask
        audio_mask = c.audio_mask[..., None]
        added = [self.sketch_proj(torch.cat([c.sketch * sk_mask, sk_mask], dim=-1)),
                 self.audio_proj(torch.cat([c.audio * audio_mask, audio_mask], dim=-1))]
        if self.pitch_proj is not None:
            p = self.pitch_index
            added.append(self.pitch_proj(pitch_fourier(c.sketch[..., p], self.cfg.pitch_features) * sk_mask[..., p, None]))
        style_mask = c.style_mask[:, None]
        arr_mask = c.arrangement_mask
        fixed = (self.style_proj(torch.cat([c.style * style_mask, style_mask], dim=-1))
                 + self.arrangement_proj(torch.cat([c.arrangement * arr_mask, arr_mask], dim=-1)))
        return added, fixed

    def _target_tokens(self, x_t, t, cond: Conditions):
        """Token embeddings (B, T, d) and conditioning vectors (B, K, d) of noisy target frames.

        `t` is one noise level per item (B,) or a scalar (K = 1), or one per block (B, K)
        when training on several target blocks at once.
        """
        B, T, _ = x_t.shape
        added, fixed = self._target_conditioning(cond, B, T, x_t.dtype)
        return self._embed_target(x_t, added), self._step_conditioning(t, fixed, B)

    def _embed_target(self, x_t, added: list[torch.Tensor]) -> torch.Tensor:
        """Token embeddings (B, T, d): the noisy latents' plus the per-frame inputs, summed in their order."""
        h = self.in_proj(x_t)
        for a in added:
            h = h + a
        return h

    def _step_conditioning(self, t, fixed: torch.Tensor, B: int) -> torch.Tensor:
        """Conditioning vectors (B, K, d) at noise level `t`: the timestep embedding plus `fixed`."""
        t = torch.as_tensor(t, dtype=fixed.dtype)
        if t.dim() == 0:
            t = t.expand(B)
        t = t.reshape(B, -1)
        K = t.shape[1]
        g = self.t_embed(t.reshape(-1)).view(B, K, -1) + fixed[:, None, :]
        return F.silu(g)

    def _step_modulation(self, t, fixed: torch.Tensor, B: int):
        """(g, ada(g), final_ada(g)) of target tokens at noise level `t`, memoised without gradients.

        The sampler visits the same noise levels every block and a prompt holds for many
        blocks, so on the cached path these small-row products (the adaLN weights are the
        largest float32 matrices a step reads) are mostly looked up. An entry is used only
        for the same weights (version counters), level, batch and conditions, compared by value.
        """
        if torch.is_grad_enabled():
            g = self._step_conditioning(t, fixed, B)
            return g, self.ada(g), self.final_ada(g)
        t = torch.as_tensor(t, dtype=fixed.dtype)
        layers = (self.t_embed.mlp[0], self.t_embed.mlp[2], self.ada, self.final_ada)
        key = (tuple(t.reshape(-1).tolist()), B, tuple(weights_key(m) for m in layers))
        memo = self.__dict__.setdefault("_modulation_memo", {})
        hit = memo.get(key)
        if hit is not None and torch.equal(hit[0], fixed):
            return hit[1]
        g = self._step_conditioning(t, fixed, B)
        out = (g, self.ada(g), self.final_ada(g))
        if len(memo) >= MODULATION_MEMO:
            memo.clear()
        memo[key] = (fixed.clone(), out)
        return out

    def _context_modulation(self) -> torch.Tensor:
        """ada(silu(context_cond)) (1, 1, 6d): a constant of the weights, computed again when they change."""
        key = (weights_key(self.ada), self.context_cond.data_ptr(), self.context_cond._version)
        memo = self.__dict__.get("_context_memo")
        if torch.is_grad_enabled() or memo is None or memo[0] != key:
            mod = self.ada(F.silu(self.context_cond)[None, None, :])         # as _context_tokens gives it
            if torch.is_grad_enabled():
                return mod
            self._context_memo = memo = (key, mod)
        return memo[1]

    def load_grown(self, state: dict) -> list[str]:
        """Load a state from an older or narrower model (lmdm_growth.grown_state); returns the
        inputs it did not have at all, which start at zero. A widened tensor is not among them:
        it keeps the channels it had and goes on learning at the same rate as the rest."""
        full, grown = grown_state(self.state_dict(), state)
        self.load_state_dict(full)
        return grown

    def _context_tokens(self, latents):
        """Clean context carries no noise level and no condition: its modulation is a learned constant."""
        return self.in_proj(latents), F.silu(self.context_cond)[None, None, :]

    def _output(self, h, g, final: torch.Tensor | None = None):
        """Velocity from hidden states; `final`: final_ada(g) when already computed."""
        shift, scale = (self.final_ada(g) if final is None else final).chunk(2, dim=-1)
        return self.out_proj(modulate(self.final_norm(h), shift, scale))

    # ---- the naive outpainting path ---------------------------------------------------

    def naive_mask(self, context_frames: int) -> torch.Tensor:
        """(T, T) bool: block-causal sliding window over context, target last; True = may attend."""
        bf, W = self.cfg.block_frames, self.cfg.context_blocks
        blk = torch.arange(context_frames + bf) // bf
        qb, kb = blk[:, None], blk[None, :]
        return (kb <= qb) & (kb >= qb - W)

    def forward_naive(self, context: torch.Tensor, x_t: torch.Tensor, t, cond: Conditions):
        """Velocity of the target block, recomputing the whole context: (B, Tc, D), (B, Bf, D) -> (B, Bf, D).

        `context` is the stream's history of clean frames, a whole number of blocks,
        oldest first. With more history than the window, the block-causal mask still
        lets each block see only its own window, exactly as the cache does.
        """
        bf = self.cfg.block_frames
        B, Tc, _ = context.shape
        if Tc % bf:
            raise ValueError(f"context of {Tc} frames is not a whole number of {bf}-frame blocks")
        if x_t.shape[1] != bf:
            raise ValueError(f"target has {x_t.shape[1]} frames, the model generates blocks of {bf}")
        h_c, g_c = self._context_tokens(context)
        h_t, g_t = self._target_tokens(x_t, t, cond)
        h = torch.cat([h_c, h_t], dim=1)
        mod = torch.cat([self.ada(g_c).expand(B, Tc, -1), self.ada(g_t).expand(B, bf, -1)], dim=1)
        mask = self.naive_mask(Tc)
        rope = self.rotary.range_tables(-Tc, bf)
        for block in self.blocks:
            h, _, _ = block(h, mod, rope, mask=mask)
        return self._output(h[:, Tc:], g_t)

    # ---- training forwards -------------------------------------------------------------

    def forward_window(self, x_t: torch.Tensor, t, cond: Conditions) -> torch.Tensor:
        """Bidirectional DiT over a whole noisy window (the base model): (B, T, D) -> velocity (B, T, D).

        Every frame is noisy at the item's one level `t` (B,) and attends to every other;
        no clean context. This is the pre-trained form that `train lmdm` converts.
        """
        B, T, _ = x_t.shape
        h, g = self._target_tokens(x_t, t, cond)
        mod = self.ada(g)
        rope = self.rotary.range_tables(0, T)
        for block in self.blocks:
            h, _, _ = block(h, mod, rope)
        return self._output(h, g)

    def window_hidden(self, x_t: torch.Tensor, t, cond: Conditions, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Hidden states (B, T, d) of `forward_window`'s pass after each block in `layers`.

        A trained denoiser already knows what its corpus sounds like under a prompt, so
        its trunk is the features ARC-Forcing's discriminator reads (only heads learn).
        """
        h, g = self._target_tokens(x_t, t, cond)
        mod = self.ada(g)
        rope = self.rotary.range_tables(0, x_t.shape[1])
        out = []
        for layer, block in enumerate(self.blocks[:max(layers) + 1]):
            h, _, _ = block(h, mod, rope)
            if layer in layers:
                out.append(h)
        return out

    def paired_mask(self, frames: int) -> torch.Tensor:
        """(2T, 2T) bool over [clean | noisy] copies of the same frames; True = may attend.

        Clean block i sees clean blocks i-W..i (as the cache holds them); noisy block i
        sees clean blocks i-W..i-1 and itself -- exactly what it sees when generated.
        """
        bf, W = self.cfg.block_frames, self.cfg.context_blocks
        blk = torch.arange(frames) // bf
        qb, kb = blk[:, None], blk[None, :]
        window = kb >= qb - W
        clean_clean = (kb <= qb) & window
        noisy_clean = (kb < qb) & window
        noisy_noisy = kb == qb
        top = torch.cat([clean_clean, torch.zeros_like(clean_clean)], dim=1)
        bottom = torch.cat([noisy_clean, noisy_noisy], dim=1)
        return torch.cat([top, bottom], dim=0)

    def forward_paired(self, clean: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """Velocities of every block of a window at once, each generated from the clean blocks before it.

        clean, x_t: (B, N * Bf, D), the same frames clean and noised; t: (B, N), one noise
        level per block. Block i's result equals `forward_naive` on clean blocks before i
        (tested), so one pass trains N blocks of the block-causal clean-context form.
        """
        bf = self.cfg.block_frames
        B, T, _ = x_t.shape
        if T % bf or clean.shape != x_t.shape:
            raise ValueError(f"paired training needs clean and noisy windows of equal shape in whole "
                             f"{bf}-frame blocks, got {tuple(clean.shape)} and {tuple(x_t.shape)}")
        n = T // bf
        if tuple(t.shape) != (B, n):
            raise ValueError(f"t must hold one noise level per block, shape {(B, n)}, got {tuple(t.shape)}")
        h_c, g_c = self._context_tokens(clean)
        h_t, g_t = self._target_tokens(x_t, t, cond)                       # g_t (B, N, d)
        g_frames = g_t.repeat_interleave(bf, dim=1)                        # (B, T, d)
        h = torch.cat([h_c, h_t], dim=1)
        mod = torch.cat([self.ada(g_c).expand(B, T, -1), self.ada(g_frames)], dim=1)
        positions = torch.arange(T)
        rope = self.rotary.tables(torch.cat([positions, positions]))
        mask = self.paired_mask(T)
        for block in self.blocks:
            h, _, _ = block(h, mod, rope, mask=mask)
        return self._output(h[:, T:], g_frames)

    # ---- the cached path --------------------------------------------------------------

    def new_cache(self, batch: int = 1) -> BlockCache:
        cfg = self.cfg
        dtype = next(self.parameters()).dtype
        return BlockCache(cfg.n_layers, batch, cfg.n_heads, cfg.head_dim, cfg.block_frames, cfg.context_blocks, dtype)

    def prefix(self, caches: list[BlockCache], copies: int = 1) -> AttentionPrefix:
        """Build once per block what every denoising step of that block attends to."""
        return AttentionPrefix(caches, self.rotary, copies)

    def forward_cached(self, prefix: AttentionPrefix, x_t: torch.Tensor, t, cond: Conditions):
        """Velocity of the target block (items * copies, Bf, D), item-major, attending to the cached context.

        The guidance copies of an item share one row of tokens (see AttentionPrefix). On
        the first call for a prefix whose caches hold pending blocks, those blocks are
        computed in the same pass and appended to their caches.
        """
        if x_t.shape[0] != prefix.batch:
            raise ValueError(f"target batch {x_t.shape[0]} does not match the prefix batch {prefix.batch}")
        n, G, bf = prefix.items, prefix.copies, self.cfg.block_frames
        if prefix.conditioned is None or prefix.conditioned[0] is not cond:    # once per block: steps share it
            prefix.conditioned = (cond, self._target_conditioning(cond, x_t.shape[0], bf, x_t.dtype))
        added, fixed = prefix.conditioned[1]
        h = self._embed_target(x_t, added)                                  # (n * G, Bf, d)
        g, mod, final = self._step_modulation(t, fixed, x_t.shape[0])      # (n * G, 1, d), (n * G, 1, 6d)
        d = h.shape[-1]
        h = h.reshape(n, G * bf, d)
        mod = mod if G == 1 else mod.view(n, G, 1, -1).expand(n, G, bf, -1).reshape(n, G * bf, -1)
        fused = prefix.state == "fuse"
        if fused:
            h_c = self.in_proj(prefix.pending)
            h = torch.cat([h_c, h], dim=1)
            mod = torch.cat([self._context_modulation().expand(n, bf, -1), mod.expand(n, G * bf, -1)], dim=1)
            rope = prefix.rope_fused
        else:
            rope = prefix.rope
        mask = prefix.mask(fused)
        for layer, block in enumerate(self.blocks):
            h, k, v = block(h, mod, rope, prefix=prefix, layer=layer, mask=mask)
            if fused:
                prefix.write_back(layer, k[:, :, :bf], v[:, :, :bf])
        if fused:
            prefix.commit()
            h = h[:, bf:]
        return self._output(h.reshape(n * G, bf, d), g, final)

    def append(self, caches: list[BlockCache], clean: torch.Tensor) -> None:
        """Run a finished block through once as clean context and store its keys/values now.

        `clean` is (sum of cache batches, Bf, D), in the order of `caches`. Blocks left
        pending by `generate_block` are appended first.
        """
        self.flush(caches)
        n = sum(c.batch for c in caches)
        if clean.shape[0] != n or clean.shape[1] != self.cfg.block_frames:
            raise ValueError(f"clean block of shape {tuple(clean.shape)} does not fit caches of batch "
                             f"{n} and blocks of {self.cfg.block_frames} frames")
        prefix = self.prefix(caches, copies=1)
        h = self.in_proj(clean)
        mod = self._context_modulation()
        mask = prefix.mask(False)
        last = len(self.blocks) - 1
        for layer, block in enumerate(self.blocks):
            if layer == last:   # only its keys and values are needed
                shift1, scale1 = (mod + block.mod_offset).chunk(6, dim=-1)[:2]
                _, k, v = block.attn(torch.addcmul(shift1, block.norm1(h), scale1), prefix.rope, prefix, layer, mask)
            else:
                h, k, v = block(h, mod, prefix.rope, prefix=prefix, layer=layer, mask=mask)
            prefix.write_back(layer, k, v)
        prefix.commit()

    def flush(self, caches: list[BlockCache]) -> None:
        """Append every pending block now instead of with the next block's first step."""
        waiting = [c for c in caches if c.pending is not None]
        for c in waiting:
            clean, c.pending = c.pending, None
            self.append([c], clean)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
