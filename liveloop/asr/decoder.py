"""Streaming decoder: whisper's text decoder over a growing audio prefix.

`TextDecoder` runs whisper's text decoder over the segment's audio so far.
Cross-attention keys/values are appended per encoder block (`append_audio`);
`begin(tokens)` runs the whole token prefix once (the audio grew, so every
position's hidden state may change) and leaves a self-attention cache that
`extend(token)` continues greedily; `truncate(n)` cuts it; `beam_start` /
`beam_step` run a batched beam beside it. It is the `LogitSource` that
`liveloop.asr.commit.CommitPolicy` (the commit rule) reads.

The decoder context (448 tokens) is never reached: a segment is at most
30 s, and the recognizer closes it early when `context_left` runs low.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liveloop.asr.encoder import _heads, _merge
from liveloop.asr.vocab import VocabProjection


def eot_margin_logp(logp: Tensor, eot: int, margin: float) -> Tensor:
    """Rows (k, V) of log-probabilities where end-of-text wins by less than ``margin`` nats over the
    runner-up get end-of-text removed (and are renormalised); other rows are returned unchanged."""
    top2 = logp.topk(2, dim=-1)
    narrow = (top2.indices[:, 0] == eot) & (top2.values[:, 0] - top2.values[:, 1] < margin)
    if not bool(narrow.any()):
        return logp
    out = logp.clone()
    out[narrow, eot] = -np.inf
    out[narrow] = out[narrow].log_softmax(-1)
    return out


class TextDecoder:
    """whisper's TextDecoder over a growing audio prefix, with token suppression (a `LogitSource`).

    `begin(tokens, k)` recomputes only the last k tokens (the tentative tail and the position that
    predicts the next token) on the new audio when `recompute_prefix` is off: the committed prefix
    keeps the self-attention keys/values it got when it was decoded (stable text, stable states).
    The alignment heads' attention of every position is kept for word timestamps.
    """

    def __init__(
        self,
        model: nn.Module,
        suppress: Sequence[int],
        suppress_begin: Sequence[int],
        n_sot: int,
        recompute_prefix: bool = False,
        vocab_top_k: int = 32,
    ) -> None:
        self.dec = model.decoder
        self.project = VocabProjection(self.dec.token_embedding.weight, vocab_top_k)
        self.n_head = model.dims.n_text_head
        self.n_vocab = model.dims.n_vocab
        self.n_ctx = model.dims.n_text_ctx
        heads = model.alignment_heads.to_dense()
        self.align = [(int(l_), int(h)) for l_, h in heads.nonzero()]  # (layer, head) pairs
        self.eot = 50256 if model.dims.n_vocab == 51864 else 50257
        self.n_sot = n_sot
        self.recompute_prefix = recompute_prefix
        self._suppress = torch.zeros(self.n_vocab, dtype=torch.bool)
        self._suppress[list(suppress)] = True
        self._suppress_begin = torch.zeros(self.n_vocab, dtype=torch.bool)
        self._suppress_begin[list(suppress_begin)] = True
        self.block_eot_first = False  # set by the caller for a final decode that must write something
        self.eot_margin = 0.0  # set by the caller for a final decode: see `eot_margin_logp`
        self.reset()

    def reset(self) -> None:
        self.cross: list[tuple[Tensor, Tensor]] = []  # per layer (1, H, T_audio, D)
        self.self_kv: list[tuple[Tensor, Tensor]] = []  # per layer (1, H, T_tok, D)
        self.tokens: list[int] = []  # the tokens whose keys/values are cached
        self.align_rows: list[Tensor] = []  # per position: alignment heads' attention (heads, T_audio then)
        self._beam_kv: list[tuple[Tensor, Tensor]] = []  # a beam's self-attention cache, per layer (B, H, T, D)
        self._beam_pos = 0

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_frames(self) -> int:
        return self.cross[0][0].shape[2] if self.cross else 0

    @property
    def context_left(self) -> int:
        return self.n_ctx - self.n_tokens

    @torch.no_grad()
    def append_audio(self, feats: Tensor) -> None:
        """New encoder frames (T_new, C) → cross-attention keys/values appended in every layer."""
        if feats.shape[0] == 0:
            return
        x = feats[None]
        for i, blk in enumerate(self.dec.blocks):
            k, v = _heads(blk.cross_attn.key(x), self.n_head), _heads(blk.cross_attn.value(x), self.n_head)
            if i < len(self.cross):
                pk, pv = self.cross[i]
                self.cross[i] = (torch.cat([pk, k], 2), torch.cat([pv, v], 2))
            else:
                self.cross.append((k, v))

    def _forward(self, tokens: Sequence[int], start: int) -> Tensor:
        """Hidden states (T_new, C) for `tokens` at positions start…; the cache is cut at `start` and extended."""
        t_new = len(tokens)
        if start + t_new > self.n_ctx:
            raise ValueError(f"decoder context is {self.n_ctx} tokens, asked for {start + t_new}")
        pos = self.dec.positional_embedding[start : start + t_new]
        x = self.dec.token_embedding(torch.tensor([list(tokens)])) + pos  # (1, T_new, C)
        causal = torch.ones(t_new, start + t_new, dtype=torch.bool).tril(diagonal=start)
        align_parts: list[Tensor] = []
        for i, blk in enumerate(self.dec.blocks):
            h = blk.attn_ln(x)
            q, k, v = (_heads(m(h), self.n_head) for m in (blk.attn.query, blk.attn.key, blk.attn.value))
            if start:
                pk, pv = self.self_kv[i]
                k, v = torch.cat([pk[:, :, :start], k], 2), torch.cat([pv[:, :, :start], v], 2)
            if i < len(self.self_kv):
                self.self_kv[i] = (k, v)
            else:
                self.self_kv.append((k, v))
            x = x + blk.attn.out(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=causal)))
            h = blk.cross_attn_ln(x)
            q = _heads(blk.cross_attn.query(h), self.n_head)
            ck, cv = self.cross[i]
            heads_here = [hd for (ly, hd) in self.align if ly == i]
            if heads_here:
                w = ((q @ ck.transpose(-1, -2)) * q.shape[-1] ** -0.5).softmax(-1)  # (1, H, T_new, T_audio)
                align_parts.append(w[0, heads_here])
                o = w @ cv
            else:
                o = F.scaled_dot_product_attention(q, ck, cv)
            x = x + blk.cross_attn.out(_merge(o))
            x = x + blk.mlp(blk.mlp_ln(x))
        self.tokens = [*self.tokens[:start], *tokens]
        rows = torch.cat(align_parts)  # (heads, T_new, T_audio)
        self.align_rows = [*self.align_rows[:start], *rows.unbind(1)]
        return self.dec.ln(x)[0]

    def _logp(self, hidden: Tensor, positions: Sequence[int]) -> Tensor:
        logits = self.project(hidden)  # (k, V): only the rows asked for
        logits = logits.masked_fill(self._suppress, -np.inf)
        for r, pos in enumerate(positions):
            if pos == self.n_sot - 1:  # first text token: no blank (and, per model, no immediate end-of-text)
                logits[r] = logits[r].masked_fill(self._suppress_begin, -np.inf)
                if self.block_eot_first:
                    logits[r, self.eot] = -np.inf
        logp = logits.log_softmax(-1)
        if self.eot_margin > 0:
            later = [r for r, pos in enumerate(positions) if pos > self.n_sot - 1]  # after the first text token
            if later:
                logp[later] = eot_margin_logp(logp[later], self.eot, self.eot_margin)
        return logp

    def _frame(self, pos: int) -> int:
        """The frame position `pos` attends to (where the token it predicts is), as whisper's timing does:
        alignment-head attention z-scored per frame over this segment's text positions, mean over heads."""
        lo = self.n_sot - 1
        if pos - lo < 2:  # too few rows to normalise
            return int(self.align_rows[pos].mean(0).argmax())
        n_f = self.align_rows[pos].shape[-1]
        w = torch.stack(
            [
                r[..., :n_f] if r.shape[-1] >= n_f else F.pad(r, (0, n_f - r.shape[-1]))
                for r in self.align_rows[lo : pos + 1]
            ],
            1,
        )  # (heads, P, T)
        std, mean = torch.std_mean(w, dim=1, unbiased=False)
        return int(((w[:, -1] - mean) / (std + 1e-6)).mean(0).argmax())

    @torch.no_grad()
    def begin(self, tokens: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.cross:
            raise RuntimeError("no audio yet: call append_audio first")
        tokens = list(tokens)
        start = 0
        if not self.recompute_prefix:
            limit = min(len(tokens) - k, len(self.tokens))
            while start < limit and self.tokens[start] == tokens[start]:
                start += 1
        hidden = self._forward(tokens[start:], start)
        logp = self._logp(hidden[-k:], range(len(tokens) - k, len(tokens)))
        frames = np.array([self._frame(p) if p >= start - 1 else -1 for p in range(len(tokens))])
        frames = np.maximum.accumulate(frames) if len(frames) else frames
        return logp.numpy(), frames

    @torch.no_grad()
    def extend(self, token: int) -> tuple[np.ndarray, int]:
        hidden = self._forward([token], self.n_tokens)
        pos = self.n_tokens - 1
        return self._logp(hidden, [pos])[0].numpy(), self._frame(pos)

    def beam_start(self, n_prefix: int) -> None:
        self._beam_kv = [(k[:, :, :n_prefix], v[:, :, :n_prefix]) for k, v in self.self_kv]
        self._beam_pos = n_prefix

    @torch.no_grad()
    def beam_step(self, parents: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        """One token for each of B hypotheses in one batched pass (the beam's own cache; see `LogitSource`)."""
        pos = self._beam_pos
        if pos + 1 > self.n_ctx:
            raise ValueError(f"decoder context is {self.n_ctx} tokens, asked for {pos + 1}")
        idx = torch.tensor(list(parents))
        x = self.dec.token_embedding(torch.tensor(list(tokens))[:, None]) + self.dec.positional_embedding[pos]
        b = x.shape[0]
        for i, blk in enumerate(self.dec.blocks):
            h = blk.attn_ln(x)
            q, k, v = (_heads(m(h), self.n_head) for m in (blk.attn.query, blk.attn.key, blk.attn.value))
            pk, pv = self._beam_kv[i]
            k, v = torch.cat([pk[idx], k], 2), torch.cat([pv[idx], v], 2)  # one query: it sees every key
            self._beam_kv[i] = (k, v)
            x = x + blk.attn.out(_merge(F.scaled_dot_product_attention(q, k, v)))
            q = _heads(blk.cross_attn.query(blk.cross_attn_ln(x)), self.n_head)
            ck, cv = self.cross[i]
            o = F.scaled_dot_product_attention(q, ck.expand(b, -1, -1, -1), cv.expand(b, -1, -1, -1))
            x = x + blk.cross_attn.out(_merge(o))
            x = x + blk.mlp(blk.mlp_ln(x))
        self._beam_pos = pos + 1
        return self._logp(self.dec.ln(x)[:, 0], [pos] * b).numpy()

    def truncate(self, n_tokens: int) -> None:
        self.self_kv = [(k[:, :, :n_tokens], v[:, :, :n_tokens]) for k, v in self.self_kv]
        self.tokens = self.tokens[:n_tokens]
        self.align_rows = self.align_rows[:n_tokens]

    def alignment(self) -> Tensor:
        """Alignment heads' attention for every cached position, (heads, n_tokens, T_audio), zero-padded."""
        n_f = self.n_frames
        rows = [F.pad(r, (0, n_f - r.shape[-1])) for r in self.align_rows]
        return torch.stack(rows, 1)
