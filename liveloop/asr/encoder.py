"""Block-causal Whisper encoder with a per-layer key/value cache (CarelessWhisper's encoder).

Whisper's encoder sees 30 s at once: two convolutions (the second with stride
2: 100 mel frames/s → 50 encoder frames/s) and self-attention over all 1500
frames. Here the frames are grouped into blocks of `block_frames` (a 300 ms
chunk is 15 frames) and a frame attends to every frame of its own block and of
the blocks before it, never after:

    block:      0         1         2
    frames:  [a a a]   [b b b]   [c c c]
    b attends to a and b; c attends to a, b and c.

So when block i arrives, only its frames are computed: each layer appends their
keys/values to its cache and attends over the cache. Earlier outputs never
change, so the decoder can append cross-attention keys/values per block.

The convolutions run on the new mel frames plus their context: encoder frame j
needs mel frames 2j-2 … 2j+2 (conv1 kernel 3, conv2 kernel 3 stride 2), i.e.
10 ms look-ahead past its own 20 ms, and block starts fall on even mel frames.
Positions are absolute frame indices within the segment (whisper asserts a full
1500-frame input; the table is sliced here instead), so a segment holds at most
30 s; the recognizer resets it at pauses or before that.

`encode_parallel` runs the same computation on a whole clip at once with a
block-causal mask (training, tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FRAMES_PER_S = 50  # encoder frames per second (20 ms each)
MEL_PER_FRAME = 2  # mel frames per encoder frame


def block_causal_mask(n_frames: int, block_frames: int, offset: int = 0, device: torch.device | None = None) -> Tensor:
    """(T, T) bool, True where frame q may attend to frame k: block(k) <= block(q)."""
    idx = (torch.arange(n_frames, device=device) + offset) // block_frames
    return idx[None, :] <= idx[:, None]


def _heads(x: Tensor, n_head: int) -> Tensor:
    b, t, c = x.shape
    return x.view(b, t, n_head, c // n_head).transpose(1, 2)  # (B, H, T, D)


def _merge(x: Tensor) -> Tensor:
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)  # (B, T, C)


def attention_block(
    blk: nn.Module, x: Tensor, n_head: int, cache: tuple[Tensor, Tensor] | None, mask: Tensor | None = None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One whisper ResidualAttentionBlock (self-attention only) over new frames x (B, T, C).

    `cache` holds the keys/values (B, H, T_past, D) of earlier frames; returns the block output and
    the extended cache. `mask` (T, T_past + T) is a boolean attend-mask (None: attend to all).
    """
    h = blk.attn_ln(x)
    q, k, v = _heads(blk.attn.query(h), n_head), _heads(blk.attn.key(h), n_head), _heads(blk.attn.value(h), n_head)
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # whisper's q·k scale d^-0.5
    x = x + blk.attn.out(_merge(o))
    x = x + blk.mlp(blk.mlp_ln(x))
    return x, (k, v)


def conv_frontend(encoder: nn.Module, mel: Tensor, j0: int, j1: int, n_mel_total: int) -> Tensor:
    """Encoder frames [j0, j1) before the transformer: (B, j1-j0, C).

    `mel` (B, n_mels, T) is the segment's mel so far; indices outside [0, n_mel_total) are zero,
    like the convolutions' zero padding (conv1 pads mel, conv2 pads conv1's output).
    """
    lo, hi = MEL_PER_FRAME * j0 - 2, MEL_PER_FRAME * j1 + 1  # mel frames 2j0-2 … 2j1 (exclusive hi)
    sl = mel[..., max(lo, 0) : min(hi, n_mel_total)]
    sl = F.pad(sl, (max(0, -lo), max(0, hi - n_mel_total)))
    h = F.gelu(F.conv1d(sl, encoder.conv1.weight, encoder.conv1.bias))  # (B, C, 2(j1-j0)+1)
    # h covers conv1 outputs 2j0-1 … 2j1-1; those outside the mel range are conv2's zero padding
    c1_idx = torch.arange(MEL_PER_FRAME * j0 - 1, MEL_PER_FRAME * j1, device=h.device)
    h = h * ((c1_idx >= 0) & (c1_idx < n_mel_total)).to(h.dtype)
    x = F.gelu(F.conv1d(h, encoder.conv2.weight, encoder.conv2.bias, stride=2))  # (B, C, j1-j0)
    x = x.transpose(1, 2)
    return x + encoder.positional_embedding[j0:j1].to(x.dtype)


class CausalEncoder:
    """Streaming block-causal encoder over one segment (≤ 30 s).

    feed_mel((n_mels, T)) → new encoder frames (T_new, C), a whole number of blocks;
    flush() → the rest (a partial last block), zero-padded like the end of a clip.
    """

    def __init__(self, model: nn.Module, block_frames: int) -> None:
        if block_frames < 1:
            raise ValueError(f"block_frames must be >= 1, got {block_frames}")
        self.encoder = model.encoder
        self.n_head = model.dims.n_audio_head
        self.max_frames = model.dims.n_audio_ctx  # 1500
        self.block_frames = block_frames
        self.reset()

    def reset(self) -> None:
        self.mel = torch.zeros(1, self.encoder.conv1.in_channels, 0)  # (1, n_mels, T_mel)
        self.n_done = 0  # encoder frames computed
        self.cache: list[tuple[Tensor, Tensor] | None] = [None] * len(self.encoder.blocks)

    @property
    def frames_left(self) -> int:
        return self.max_frames - self.n_done

    @torch.no_grad()
    def feed_mel(self, mel: Tensor) -> Tensor:
        self.mel = torch.cat([self.mel, mel[None].to(self.mel.dtype)], dim=2)
        n_mel = self.mel.shape[-1]
        ready = max(0, (n_mel - 3) // MEL_PER_FRAME + 1)  # frame j needs mel 2j+2
        n_new = (ready - self.n_done) // self.block_frames * self.block_frames
        n_new = min(n_new, self.frames_left // self.block_frames * self.block_frames)
        return self._encode(self.n_done + n_new, n_mel)

    @torch.no_grad()
    def flush(self) -> Tensor:
        """Encode every frame the mel covers (the last block may be partial)."""
        n_mel = self.mel.shape[-1]
        end = min((n_mel + 1) // MEL_PER_FRAME, self.max_frames)
        return self._encode(end, n_mel)

    def _encode(self, end: int, n_mel: int) -> Tensor:
        if end <= self.n_done:
            return torch.zeros(0, self.encoder.ln_post.normalized_shape[0])
        x = conv_frontend(self.encoder, self.mel, self.n_done, end, n_mel)
        mask = None  # one block (or a partial one) attends to everything so far
        if end - self.n_done > self.block_frames:  # several blocks at once: block-causal among the new ones
            rel = block_causal_mask(end - self.n_done, self.block_frames)  # blocks counted from n_done
            mask = torch.cat([torch.ones(rel.shape[0], self.n_done, dtype=torch.bool), rel], 1)  # (T_new, T_all)
        for i, blk in enumerate(self.encoder.blocks):
            x, self.cache[i] = attention_block(blk, x, self.n_head, self.cache[i], mask)
        self.n_done = end
        return self.encoder.ln_post(x)[0]


def encode_parallel(model: nn.Module, mel: Tensor, block_frames: int | None) -> Tensor:
    """The whole clip at once: mel (B, n_mels, T) → (B, ceil(T/2), C), block-causal (None: full attention)."""
    enc = model.encoder
    n_mel = mel.shape[-1]
    n_frames = (n_mel + 1) // MEL_PER_FRAME
    if n_frames > model.dims.n_audio_ctx:
        raise ValueError(f"at most {model.dims.n_audio_ctx} encoder frames (30 s), got {n_frames}")
    x = conv_frontend(enc, mel, 0, n_frames, n_mel)
    mask = None if block_frames is None else block_causal_mask(n_frames, block_frames, device=mel.device)
    for blk in enc.blocks:
        x, _ = attention_block(blk, x, model.dims.n_audio_head, None, mask)
    return enc.ln_post(x)
