"""Samplers: turn an observation window into an action chunk.

Every sampler has the same small contract (a sans-I/O core: no clock, no I/O)::

    sampler.reset()                                   # new episode
    chunk = sampler.decide(obs_window)                # (B, n_obs, obs_dim) -> (B, horizon, action_dim), raw units
    sampler.last_nfe                                  # network evaluations the decision took

`FullSampler` denoises from pure noise every decision: DDPM over all ``T``
timesteps (stochastic) or DDIM over ``k`` strided ones (deterministic). The
RTI sampler (warm-started, `liveloop.policy.rti`) has the same contract.
"""

from __future__ import annotations

import enum

import numpy as np
import torch

from liveloop.policy.model import DiffusionPolicy


class StepKind(enum.Enum):
    DDPM = "ddpm"
    DDIM = "ddim"


def denoise(
    policy: DiffusionPolicy,
    x: torch.Tensor,
    cond: torch.Tensor,
    timesteps: list[int] | tuple[int, ...],
    kind: StepKind,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Walk ``x`` (taken as the sample at ``timesteps[0]``) down the list to the clean sample. One NFE per entry."""
    sched, clip = policy.schedule, policy.config.clip_sample
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps = policy.eps(x, t, cond)
        if kind is StepKind.DDPM:
            noise = None if t_prev == -1 else torch.randn(x.shape, generator=generator).to(x.device)
            x = sched.ddpm_step(x, eps, t, t_prev, noise, clip)
        else:
            x = sched.ddim_step(x, eps, t, t_prev, clip)
    return x


class FullSampler:
    """Full denoise from noise each decision: ``ddpm`` (all T steps) or ``ddim`` with ``k`` steps."""

    def __init__(self, policy: DiffusionPolicy, kind: StepKind, k: int | None = None, seed: int = 0) -> None:
        self.policy = policy
        self.kind = kind
        sched = policy.schedule
        self.timesteps = sched.ddpm_timesteps() if kind is StepKind.DDPM else sched.ddim_timesteps(k or 10)
        if kind is StepKind.DDPM and k not in (None, sched.num_steps):
            raise ValueError(f"DDPM runs all {sched.num_steps} steps, got k={k}")
        self.generator = torch.Generator().manual_seed(seed)
        self.last_nfe = 0
        self.last_clean: torch.Tensor | None = None  # (B, H, A) normalised

    def reset(self) -> None:
        self.last_nfe = 0
        self.last_clean = None

    def decide(self, obs_window: np.ndarray) -> np.ndarray:
        cond = self.policy.cond(obs_window)
        x = self.policy.noise(cond.shape[0], self.generator)
        x0 = denoise(self.policy, x, cond, self.timesteps, self.kind, self.generator)
        self.last_nfe = len(self.timesteps)
        self.last_clean = x0
        return self.policy.to_actions(x0)
