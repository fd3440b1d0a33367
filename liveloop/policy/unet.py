"""1-D temporal conditional U-Net over action chunks (Diffusion Policy's ConditionalUnet1D, small).

Input: a noisy action chunk ``x`` (B, T, A) with T = horizon; conditioning: the
diffusion timestep (B,) and the flattened observation window ``cond``
(B, n_obs · obs_dim). Each residual block is FiLM-modulated by
``[timestep embedding, cond]``. Output: predicted noise ε, (B, T, A).

With ``down_dims = (64, 128, 256)`` and T = 16 the chunk is convolved at
lengths 16 → 8 → 4 and back.
"""

from __future__ import annotations

import itertools
import math
from typing import cast

import torch
from torch import nn


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, dim)
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
        args = t.float()[:, None] * freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=-1)


class Conv1dBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int = 8) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class CondResBlock1D(nn.Module):
    """Two conv blocks; the first one's output is FiLM-modulated: ``scale · h + bias`` from the condition."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int) -> None:
        super().__init__()
        self.block1 = Conv1dBlock(c_in, c_out, kernel)
        self.block2 = Conv1dBlock(c_out, c_out, kernel)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.c_out = c_out

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:  # x (B, C, T), cond (B, cond_dim)
        h = self.block1(x)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        h = scale * h + bias
        return self.block2(h) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    def __init__(
        self,
        action_dim: int,
        cond_dim: int,
        down_dims: tuple[int, ...] = (64, 128, 256),
        step_embed_dim: int = 64,
        kernel: int = 5,
    ) -> None:
        super().__init__()
        self.step_emb = nn.Sequential(
            SinusoidalPosEmb(step_embed_dim),
            nn.Linear(step_embed_dim, step_embed_dim * 4),
            nn.Mish(),
            nn.Linear(step_embed_dim * 4, step_embed_dim),
        )
        film_dim = step_embed_dim + cond_dim
        dims = (action_dim, *down_dims)
        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(itertools.pairwise(dims)):
            last = i == len(down_dims) - 1
            self.down.append(
                nn.ModuleList(
                    [
                        CondResBlock1D(c_in, c_out, film_dim, kernel),
                        CondResBlock1D(c_out, c_out, film_dim, kernel),
                        nn.Conv1d(c_out, c_out, 3, stride=2, padding=1) if not last else nn.Identity(),
                    ]
                )
            )
        c_mid = down_dims[-1]
        self.mid = nn.ModuleList(
            [CondResBlock1D(c_mid, c_mid, film_dim, kernel), CondResBlock1D(c_mid, c_mid, film_dim, kernel)]
        )
        self.up = nn.ModuleList()
        rev = list(reversed(down_dims))
        for c_out, c_in in zip(rev[1:], rev[:-1], strict=True):
            self.up.append(
                nn.ModuleList(
                    [
                        CondResBlock1D(c_in * 2, c_out, film_dim, kernel),
                        CondResBlock1D(c_out, c_out, film_dim, kernel),
                        nn.ConvTranspose1d(c_out, c_out, 4, stride=2, padding=1),
                    ]
                )
            )
        self.final = nn.Sequential(
            Conv1dBlock(down_dims[0], down_dims[0], kernel), nn.Conv1d(down_dims[0], action_dim, 1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, T, A), t (B,) long, cond (B, cond_dim) -> ε̂ (B, T, A)."""
        film = torch.cat([self.step_emb(t), cond], dim=-1)  # (B, film_dim)
        h = x.transpose(1, 2)  # (B, A, T)
        skips = []
        for stage in self.down:
            res1, res2, downsample = cast(nn.ModuleList, stage)
            h = res2(res1(h, film), film)
            skips.append(h)
            h = downsample(h)
        for block in self.mid:
            h = block(h, film)
        for stage in self.up:
            res1, res2, upsample = cast(nn.ModuleList, stage)
            h = torch.cat([h, skips.pop()], dim=1)
            h = upsample(res2(res1(h, film), film))
        return self.final(h).transpose(1, 2)  # (B, T, A)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
