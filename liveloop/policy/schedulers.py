"""DDPM noise schedule and the three ways to walk it back: DDPM, DDIM, and a short list (RTI).

Forward process (Ho et al. 2020), ``T`` training steps, ``ᾱ_t = Π_{s<=t} (1 - β_s)``::

    x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 - ᾱ_t) · ε,     ε ~ N(0, I),   t = 0 … T-1

The network predicts ε. Every reverse step here goes from timestep ``t`` to an
earlier timestep ``t_prev`` (``-1`` means "clean", ᾱ = 1), so one function
covers the full 100-step DDPM chain, DDIM's strided chain and RTI's short list
(e.g. ``[2, 1, 0]``):

* `ddpm_step` samples the posterior ``q(x_{t_prev} | x_t, x̂_0)`` (stochastic);
* `ddim_step` is its deterministic (η = 0) counterpart.

Both clip the predicted ``x̂_0`` to ``[-1, 1]`` when asked (Diffusion Policy's
``clip_sample``), which is where the normaliser puts the data.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence

import torch


class StepKind(enum.Enum):
    DDPM = "ddpm"  # stochastic: samples the posterior
    DDIM = "ddim"  # deterministic (η = 0)


def cosine_betas(num_steps: int, max_beta: float = 0.999) -> torch.Tensor:
    """The "squaredcos_cap_v2" schedule (Nichol & Dhariwal 2021), as Diffusion Policy uses. (T,) float64."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")

    def abar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - abar((i + 1) / num_steps) / abar(i / num_steps), max_beta) for i in range(num_steps)]
    return torch.tensor(betas, dtype=torch.float64)


class NoiseSchedule:
    """β, α, ᾱ for ``num_steps`` training timesteps; ᾱ(-1) = 1 by convention."""

    def __init__(self, num_steps: int = 100, betas: torch.Tensor | None = None) -> None:
        self.num_steps = num_steps
        self.betas = cosine_betas(num_steps) if betas is None else betas.to(torch.float64)
        if self.betas.shape != (num_steps,):
            raise ValueError(f"betas must have shape ({num_steps},), got {tuple(self.betas.shape)}")
        self.alphas = 1.0 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)  # (T,)
        self._abar = self.alpha_bar.tolist()  # Python floats: a step's coefficients are constants, not tensor reads

    def abar(self, t: int) -> float:
        if t == -1:
            return 1.0
        if not 0 <= t < self.num_steps:
            raise ValueError(f"timestep must be in [-1, {self.num_steps - 1}], got {t}")
        return self._abar[t]

    def sigma(self, t: int) -> float:
        """Noise standard deviation of x_t: sqrt(1 - ᾱ_t)."""
        return math.sqrt(1.0 - self.abar(t))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward-diffuse a batch: x0, noise (B, ...), t (B,) long."""
        ab = self.alpha_bar.to(x0.device)[t].to(x0.dtype)  # (B,)
        ab = ab.reshape(-1, *([1] * (x0.dim() - 1)))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    # -- timestep lists ---------------------------------------------
    def ddpm_timesteps(self) -> list[int]:
        return list(range(self.num_steps - 1, -1, -1))

    def ddim_timesteps(self, k: int) -> list[int]:
        """``k`` evenly spaced timesteps, "leading" spacing as in diffusers: [(k-1)·s, …, s, 0], s = T // k."""
        if not 1 <= k <= self.num_steps:
            raise ValueError(f"DDIM steps must be in [1, {self.num_steps}], got {k}")
        stride = self.num_steps // k
        return [i * stride for i in range(k - 1, -1, -1)]

    # -- reverse steps ------------------------------------------------
    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: int, clip: bool) -> torch.Tensor:
        ab = self.abar(t)
        x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        return x0.clamp(-1.0, 1.0) if clip else x0

    def ddpm_step(
        self,
        x_t: torch.Tensor,
        eps: torch.Tensor,
        t: int,
        t_prev: int,
        noise: torch.Tensor | None,
        clip: bool = True,
    ) -> torch.Tensor:
        """Sample x_{t_prev} ~ q(x_{t_prev} | x_t, x̂_0). ``noise`` may be None only when t_prev == -1."""
        if not t > t_prev >= -1:
            raise ValueError(f"need t > t_prev >= -1, got t={t}, t_prev={t_prev}")
        ab_t, ab_p = self.abar(t), self.abar(t_prev)
        a_eff = ab_t / ab_p  # α over the jump
        b_eff = 1.0 - a_eff
        x0 = self.predict_x0(x_t, eps, t, clip)
        c0 = math.sqrt(ab_p) * b_eff / (1 - ab_t)
        ct = math.sqrt(a_eff) * (1 - ab_p) / (1 - ab_t)
        mean = c0 * x0 + ct * x_t
        var = (1 - ab_p) / (1 - ab_t) * b_eff
        if t_prev == -1 or var <= 0:
            return mean
        if noise is None:
            raise ValueError("ddpm_step needs noise unless stepping to the clean sample")
        return mean + math.sqrt(var) * noise

    def ddim_step(self, x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, clip: bool = True) -> torch.Tensor:
        """Deterministic DDIM (η = 0) from t to t_prev."""
        if not t > t_prev >= -1:
            raise ValueError(f"need t > t_prev >= -1, got t={t}, t_prev={t_prev}")
        ab_t, ab_p = self.abar(t), self.abar(t_prev)
        x0 = self.predict_x0(x_t, eps, t, clip)
        if clip:  # re-derive ε from the clipped x̂_0 so the step stays on the same line
            eps = (x_t - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
        return math.sqrt(ab_p) * x0 + math.sqrt(1 - ab_p) * eps

    # -- a whole walk -------------------------------------------------
    @staticmethod
    def noise_draws(timesteps: Sequence[int], kind: StepKind) -> int:
        """Noise draws a walk needs: DDPM one per step except the last (to the clean sample), DDIM none."""
        return len(timesteps) - 1 if kind is StepKind.DDPM else 0

    def walk(
        self,
        eps: Callable[[torch.Tensor, int, torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        cond: torch.Tensor,
        timesteps: Sequence[int],
        kind: StepKind,
        noise: Sequence[torch.Tensor] = (),
        clip: bool = True,
    ) -> torch.Tensor:
        """Walk ``x`` (the sample at ``timesteps[0]``) down the list to the clean sample; one ``eps`` call per entry.

        ``noise`` holds `noise_draws` tensors shaped like ``x``, used in order (drawn up front by the
        caller, so that the walk itself is a pure function of its inputs and can be traced).
        """
        need = self.noise_draws(timesteps, kind)
        if len(noise) != need:
            raise ValueError(
                f"a {kind.value} walk over {len(timesteps)} steps needs {need} noise draws, got {len(noise)}"
            )
        for i, t in enumerate(timesteps):
            t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            e = eps(x, t, cond)
            if kind is StepKind.DDPM:
                x = self.ddpm_step(x, e, t, t_prev, None if t_prev == -1 else noise[i], clip)
            else:
                x = self.ddim_step(x, e, t, t_prev, clip)
        return x
