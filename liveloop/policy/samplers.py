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

from collections.abc import Sequence

import numpy as np
import torch

from liveloop.policy.compiled import Backend
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.schedulers import NoiseSchedule, StepKind

__all__ = ["FullSampler", "StepKind", "denoise", "draw_noise"]


def draw_noise(
    x: torch.Tensor, timesteps: Sequence[int], kind: StepKind, generator: torch.Generator | None
) -> list[torch.Tensor]:
    """The walk's noise, drawn up front in step order (the same numbers as drawing at each step)."""
    n = NoiseSchedule.noise_draws(timesteps, kind)
    return [torch.randn(x.shape, generator=generator).to(x.device) for _ in range(n)]


def denoise(
    policy: DiffusionPolicy,
    x: torch.Tensor,
    cond: torch.Tensor,
    timesteps: Sequence[int],
    kind: StepKind,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Walk ``x`` (taken as the sample at ``timesteps[0]``) down the list to the clean sample. One NFE per entry."""
    return policy.walk(x, cond, tuple(timesteps), kind, draw_noise(x, timesteps, kind, generator))


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

    def compile(self, batch: int = 1, backend: Backend | None = None) -> None:
        """Trace the net (and the whole chain when it is short) for ``batch`` now."""
        self.policy.compile(batch, ((tuple(self.timesteps), self.kind),), backend)

    def decide(self, obs_window: np.ndarray) -> np.ndarray:
        cond = self.policy.cond(obs_window)
        x = self.policy.noise(cond.shape[0], self.generator)
        x0 = denoise(self.policy, x, cond, self.timesteps, self.kind, self.generator)
        self.last_nfe = len(self.timesteps)
        self.last_clean = x0
        return self.policy.to_actions(x0)
