"""The KV cache of clean context frames, and the per-block attention prefix built from it.

The cache is a ring of `context_blocks` blocks per layer: when a finished block is
appended, it overwrites the oldest one, so memory is allocated once and never grows,
however long the performance runs.

Keys are stored already rotated, at positions counted from a `base` frame. Rotary
scores depend only on position differences, so the base can be anything; it is
moved forward every `REBASE_FRAMES` frames (rotating the stored keys back once),
which keeps the angles small: after an hour an absolute frame index would be 90,000,
where float32 rotary angles lose their precision.
"""
from __future__ import annotations

import torch

from .rope import Rotary

REBASE_FRAMES = 2048


class BlockCache:
    """Clean-context keys and values of one stream (a batch of `batch` items in lock step).

    k, v:         (n_layers, batch, n_heads, window, head_dim); keys rotated at (frame - base)
    frame_index:  (window,) absolute frame index held by each slot, -1 while empty
    blocks_seen:  blocks appended so far; the next block starts at frame blocks_seen * block_frames
    pending:      (batch, block_frames, latent_dim) finished block not yet appended, or None
    """

    def __init__(self, n_layers: int, batch: int, n_heads: int, head_dim: int,
                 block_frames: int, context_blocks: int, dtype=torch.float32):
        self.block_frames = block_frames
        self.context_blocks = context_blocks
        window = block_frames * context_blocks
        self.k = torch.zeros(n_layers, batch, n_heads, window, head_dim, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.frame_index = torch.full((window,), -1, dtype=torch.long)
        self.blocks_seen = 0
        self.base = 0
        self.pending: torch.Tensor | None = None   # a finished block waiting to ride along (see AttentionPrefix)

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    @property
    def window(self) -> int:
        return self.k.shape[3]

    @property
    def next_frame(self) -> int:
        """First frame of the next block to enter the cache."""
        return self.blocks_seen * self.block_frames

    @property
    def blocks_generated(self) -> int:
        """Blocks produced so far, the pending one included: the index of the next block to generate."""
        return self.blocks_seen + (self.pending is not None)

    @property
    def full(self) -> bool:
        return self.blocks_seen >= self.context_blocks

    def slots(self) -> slice:
        """The ring slots the next appended block will take (the oldest block's, once full)."""
        start = (self.blocks_seen % self.context_blocks) * self.block_frames
        return slice(start, start + self.block_frames)

    def next_positions(self) -> torch.Tensor:
        """Rotary positions of the next block's frames, counted from the base."""
        start = self.next_frame - self.base
        return torch.arange(start, start + self.block_frames)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store one layer's rotated keys and values (batch, heads, block_frames, head_dim) of the block being appended."""
        s = self.slots()
        self.k[layer, :, :, s] = k
        self.v[layer, :, :, s] = v

    def commit(self, rotary: Rotary) -> None:
        """Mark the block written by `write` as context (the oldest falls out); rebase when due."""
        s = self.slots()
        self.frame_index[s] = torch.arange(self.next_frame, self.next_frame + self.block_frames)
        self.blocks_seen += 1
        if self.next_frame - self.base >= REBASE_FRAMES:
            shift = self.next_frame - self.base
            cos, sin = rotary.tables(torch.tensor([-shift]))
            self.k.copy_(rotary.apply(self.k, cos, sin))
            self.base = self.next_frame

    def valid(self) -> torch.Tensor:
        return self.frame_index >= 0

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.k, self.v, self.frame_index))

    def reset(self) -> None:
        """Forget the context (a stream restarting from silence) without reallocating."""
        self.frame_index.fill_(-1)
        self.blocks_seen = 0
        self.base = 0
        self.pending = None


class AttentionPrefix:
    """What a block being generated attends to besides itself, built once per block.

    Per layer and per stream item, a buffer of three regions [P | R | T]: the ring of
    cached context R (copied from one or more caches, one per stream, so that streams at
    different positions batch into one model call); a region P for a *pending* block;
    and a region T for the target block's own keys, rewritten at every denoising step,
    so a step copies nothing.

    The branches of classifier-free guidance (`copies` of them) share their item's row:
    their target tokens sit side by side in T, each attending to the context and to
    itself only. So the window is stored once per item, not once per branch, and the
    matrix products get more rows per weight read.

    A pending block is a finished block not yet appended to its cache. Appending costs
    a pass through the weights, and on a CPU a pass over 12 tokens costs most of what
    a pass over 36 does (small-row matrix products run far below peak), so the pending
    block rides along with the first denoising step of the next block: its tokens are
    computed in the same pass, with context modulation, attending only to the ring and
    itself; its keys and values go into P, into the cache, and over the ring slots of
    the block it replaces. Every later step attends to the view [R | T].

    k[l], v[l]: (items, heads, Bf + W + copies * Bf, head_dim)
    """

    def __init__(self, caches: list[BlockCache], rotary: Rotary, copies: int = 1):
        if not caches:
            raise ValueError("an attention prefix needs at least one cache")
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        first = caches[0]
        for c in caches:
            if (c.block_frames, c.window, c.k.shape[0]) != (first.block_frames, first.window, first.k.shape[0]):
                raise ValueError("caches of different model configurations cannot be batched together")
        pending = [c.pending is not None for c in caches]
        if any(pending) and not all(pending):
            raise ValueError("either every cache in a batch has a pending block or none has; flush them first")
        self.caches, self.copies, self.rotary = caches, copies, rotary
        self.window, self.block_frames = first.window, first.block_frames
        W, bf = self.window, self.block_frames
        n_layers, _, H, _, hd = first.k.shape
        self.items = sum(c.batch for c in caches)
        self.batch = self.items * copies          # rows of the target batch callers pass in
        self.state = "fuse" if all(pending) else "plain"
        self._masks: dict = {}
        self.conditioned = None     # (conditions, what the target tokens take from them): set by the model
        self.k = [torch.empty(self.items, H, bf + W + copies * bf, hd, dtype=first.k.dtype) for _ in range(n_layers)]
        self.v = [torch.empty_like(t) for t in self.k]
        ring_valid, ring_kept, pos, self.replaced = [], [], [], []
        row = 0
        for c in caches:
            n = c.batch
            for layer in range(n_layers):
                self.k[layer][row:row + n, :, bf:bf + W] = c.k[layer]
                self.v[layer][row:row + n, :, bf:bf + W] = c.v[layer]
            valid = c.valid()
            kept = valid.clone()
            if c.pending is not None:
                kept[c.slots()] = False     # the pending block replaces the oldest one in the window
            ring_valid.append(valid.expand(n, W))
            ring_kept.append(kept.expand(n, W))
            pos.append(c.next_positions().expand(n, bf))
            self.replaced.append((row, n, c.slots()))
            row += n
        self.ring_valid = torch.cat(ring_valid)[:, None, None, :]     # (items, 1, 1, W)
        self.ring_kept = torch.cat(ring_kept)[:, None, None, :]
        positions = torch.cat(pos)                                     # (items, Bf) of the pending-or-target block
        if self.state == "fuse":
            self.pending = torch.cat([c.pending for c in caches])
            target = positions + bf
            self.rope_fused = self._rope(torch.cat([positions] + [target] * copies, dim=1))
        else:
            self.pending = None
            target = positions
        self.rope = self._rope(torch.cat([target] * copies, dim=1))

    def _rope(self, positions):
        cos, sin = self.rotary.tables(positions.flatten())
        return (cos.view(*positions.shape, -1)[:, None], sin.view(*positions.shape, -1)[:, None])  # (items, 1, T, hd/2)

    def _target_rows(self, ring: torch.Tensor, with_pending: bool) -> torch.Tensor:
        """(items, 1, copies * Bf, [P] + W + copies * Bf): each branch sees the context, P if given, and itself."""
        n, bf, G = self.items, self.block_frames, self.copies
        branch = torch.arange(G).repeat_interleave(bf)
        own = (branch[:, None] == branch[None, :]).expand(n, 1, G * bf, G * bf)
        parts = [ring.expand(n, 1, G * bf, -1), own]
        if with_pending:
            parts.insert(0, torch.ones(n, 1, G * bf, bf, dtype=torch.bool))
        return torch.cat(parts, dim=-1)

    def mask(self, fused: bool) -> torch.Tensor | None:
        """Additive attention mask (0 = attend, -inf = not) for the tokens of this pass; None when all may
        attend. Memoised per state: a boolean mask would be converted at every layer of every step."""
        key = (fused, self.state)
        if key not in self._masks:
            allowed = self.allowed(fused)
            self._masks[key] = None if allowed is None else \
                torch.zeros(allowed.shape, dtype=self.k[0].dtype).masked_fill_(~allowed, float("-inf"))
        return self._masks[key]

    def allowed(self, fused: bool) -> torch.Tensor | None:
        """Boolean attention mask (True = attend) for the tokens of this pass; None when all may attend."""
        n, bf, G = self.items, self.block_frames, self.copies
        if fused:       # queries [pending | targets] over keys [P | R | T]
            pending_rows = torch.cat([torch.ones(n, 1, bf, bf, dtype=torch.bool),
                                      self.ring_valid.expand(n, 1, bf, -1),
                                      torch.zeros(n, 1, bf, G * bf, dtype=torch.bool)], dim=-1)
            return torch.cat([pending_rows, self._target_rows(self.ring_kept, with_pending=True)], dim=2)
        # keys [R | T]; after absorption the replaced slots hold the pending block
        ring = self.ring_valid if self.state == "plain" else (self.ring_kept | self._replaced_mask())
        if G == 1 and bool(ring.all()):
            return None
        return self._target_rows(ring, with_pending=False)

    def _replaced_mask(self) -> torch.Tensor:
        m = torch.zeros(self.items, 1, 1, self.window, dtype=torch.bool)
        for row, n, slots in self.replaced:
            m[row:row + n, :, :, slots] = True
        return m

    def keys_values(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor):
        """The keys/values this pass attends to, with its own (rotated) ones in place.

        A fused pass (pending + target tokens) sees [P | R | T]; any other pass [R | T].
        """
        bf, W = self.block_frames, self.window
        fused = k_new.shape[2] == bf + self.copies * bf and self.state == "fuse"
        kb, vb = self.k[layer], self.v[layer]
        if torch.is_grad_enabled() and (k_new.requires_grad or v_new.requires_grad):
            # Training through the cache (self-rollout) must not write into shared buffers.
            if fused:
                return (torch.cat([k_new[:, :, :bf], kb[:, :, bf:bf + W], k_new[:, :, bf:]], dim=2),
                        torch.cat([v_new[:, :, :bf], vb[:, :, bf:bf + W], v_new[:, :, bf:]], dim=2))
            return torch.cat([kb[:, :, bf:bf + W], k_new], dim=2), torch.cat([vb[:, :, bf:bf + W], v_new], dim=2)
        if fused:
            kb[:, :, :bf], kb[:, :, bf + W:] = k_new[:, :, :bf], k_new[:, :, bf:]
            vb[:, :, :bf], vb[:, :, bf + W:] = v_new[:, :, :bf], v_new[:, :, bf:]
            return kb, vb
        kb[:, :, bf + W:] = k_new
        vb[:, :, bf + W:] = v_new
        return kb[:, :, bf:], vb[:, :, bf:]

    def write_back(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store a clean block's keys/values (items, heads, Bf, head_dim) of one layer into each
        stream's cache and over the ring slots it replaces in this prefix."""
        bf = self.block_frames
        k, v = k.detach(), v.detach()
        if self.state == "fuse":
            for row, n, slots in self.replaced:
                ring = slice(bf + slots.start, bf + slots.stop)
                self.k[layer][row:row + n, :, ring] = k[row:row + n]
                self.v[layer][row:row + n, :, ring] = v[row:row + n]
        start = 0
        for c in self.caches:
            c.write(layer, k[start:start + c.batch], v[start:start + c.batch])
            start += c.batch

    def commit(self) -> None:
        for c in self.caches:
            c.pending = None
            c.commit(self.rotary)
        if self.state == "fuse":
            self.state = "absorbed"
