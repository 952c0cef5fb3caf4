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

    Per layer, a buffer of three regions [P | R | T]: the ring of cached context R
    (copied from one or more caches, one per stream, so that streams at different
    positions batch into one model call, and repeated `copies` times per item for the
    branches of classifier-free guidance); a region P for a *pending* block; and a
    region T for the target block's own keys, rewritten at every denoising step, so a
    step copies nothing.

    A pending block is a finished block not yet appended to its cache. Appending costs
    a pass through the weights, and on a CPU a pass over 12 tokens costs most of what
    a pass over 36 does (small-row matrix products run far below peak), so the pending
    block rides along with the first denoising step of the next block: its tokens are
    computed in the same pass, with context modulation, attending only to the ring and
    itself; its keys and values go into P, into the cache, and over the ring slots of
    the block it replaces. Every later step then attends to the view [R | T], which
    needs no mask at all once the window is full.

    k[l], v[l]: (B * copies, heads, Bf + W + Bf, head_dim)
    """

    def __init__(self, caches: list[BlockCache], rotary: Rotary, copies: int = 1):
        if not caches:
            raise ValueError("an attention prefix needs at least one cache")
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
        B = sum(c.batch for c in caches) * copies
        self.batch = B
        self.state = "fuse" if all(pending) else "plain"
        self.k = [torch.zeros(B, H, bf + W + bf, hd, dtype=first.k.dtype) for _ in range(n_layers)]
        self.v = [torch.zeros_like(t) for t in self.k]
        ring_valid, ring_kept, pos, self.replaced = [], [], [], []
        row = 0
        for c in caches:
            n = c.batch * copies
            for layer in range(n_layers):
                # (batch, copies, H, W, hd) view: every guidance copy gets the same context.
                self.k[layer][row:row + n, :, bf:bf + W].unflatten(0, (c.batch, copies)).copy_(c.k[layer].unsqueeze(1))
                self.v[layer][row:row + n, :, bf:bf + W].unflatten(0, (c.batch, copies)).copy_(c.v[layer].unsqueeze(1))
            valid = c.valid()
            kept = valid.clone()
            if c.pending is not None:
                kept[c.slots()] = False     # the pending block replaces the oldest one in the window
            ring_valid.append(valid.expand(n, W))
            ring_kept.append(kept.expand(n, W))
            pos.append(c.next_positions().expand(n, bf))
            self.replaced.append((row, n, c.slots()))
            row += n
        self.ring_valid = torch.cat(ring_valid)[:, None, None, :]     # (B, 1, 1, W)
        self.ring_kept = torch.cat(ring_kept)[:, None, None, :]
        self.positions = torch.cat(pos)                                # (B, Bf) of the pending-or-target block
        if self.state == "fuse":
            self.pending = torch.cat([c.pending for c in caches]).repeat_interleave(copies, dim=0)
            self.rope_fused = self._rope(torch.cat([self.positions, self.positions + bf], dim=1))
            self.rope = self._rope(self.positions + bf)
        else:
            self.pending = None
            self.rope = self._rope(self.positions)

    def _rope(self, positions):
        cos, sin = self.rotary.tables(positions.flatten())
        return (cos.view(*positions.shape, -1)[:, None], sin.view(*positions.shape, -1)[:, None])  # (B, 1, T, hd/2)

    def mask(self, fused: bool) -> torch.Tensor | None:
        """Boolean attention mask (True = attend) for the tokens of this pass; None when all may attend."""
        B, bf = self.batch, self.block_frames
        yes = torch.ones(B, 1, 1, bf, dtype=torch.bool)
        if fused:       # over [P | R | T]
            pending_rows = torch.cat([yes, self.ring_valid, ~yes], dim=-1).expand(B, 1, bf, -1)
            target_rows = torch.cat([yes, self.ring_kept, yes], dim=-1).expand(B, 1, bf, -1)
            return torch.cat([pending_rows, target_rows], dim=2)
        # over [R | T]; after absorption the replaced slots hold the pending block
        ring = self.ring_valid if self.state == "plain" else (self.ring_kept | self._replaced_mask())
        if bool(ring.all()):
            return None
        return torch.cat([ring, yes], dim=-1)

    def _replaced_mask(self) -> torch.Tensor:
        m = torch.zeros(self.batch, 1, 1, self.window, dtype=torch.bool)
        for row, n, slots in self.replaced:
            m[row:row + n, :, :, slots] = True
        return m

    def keys_values(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor):
        """The keys/values this pass attends to, with its own (rotated) ones in place.

        A fused pass (pending + target tokens) sees [P | R | T]; any other pass [R | T].
        """
        bf, W = self.block_frames, self.window
        fused = k_new.shape[2] == 2 * bf
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
        """Store a clean block's keys/values of one layer into each stream's cache (first copy of
        each item) and over the ring slots it replaces in this prefix."""
        bf = self.block_frames
        if self.state == "fuse":
            for row, n, slots in self.replaced:
                ring = slice(bf + slots.start, bf + slots.stop)
                self.k[layer][row:row + n, :, ring] = k[row:row + n].detach()
                self.v[layer][row:row + n, :, ring] = v[row:row + n].detach()
        k, v = k[::self.copies].detach(), v[::self.copies].detach()
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
