"""Noise schedule and reverse steps against closed forms on a Gaussian toy.

For data x0 ~ N(mu, s^2) the optimal ε-predictor is known in closed form:
E[ε | x_t] = sqrt(1-ᾱ) (x_t - sqrt(ᾱ) mu) / (ᾱ s² + 1 - ᾱ). Sampling with it must
give back N(mu, s^2) (DDPM: exactly in the limit; DDIM: up to discretisation).
"""

from __future__ import annotations

import math

import pytest
import torch

from liveloop.policy.schedulers import NoiseSchedule, cosine_betas

MU, S = 0.3, 0.2


def exact_eps(sched: NoiseSchedule, x: torch.Tensor, t: int, mu: float = MU, s: float = S) -> torch.Tensor:
    ab = sched.abar(t)
    return math.sqrt(1 - ab) * (x - math.sqrt(ab) * mu) / (ab * s * s + 1 - ab)


def test_cosine_schedule_matches_closed_form() -> None:
    sched = NoiseSchedule(100)

    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 1, 2, 10, 50, 90):
        assert sched.abar(t) == pytest.approx(f((t + 1) / 100) / f(0), rel=1e-9)
    assert sched.abar(-1) == 1.0
    assert torch.all(cosine_betas(100) <= 0.999)
    assert sched.sigma(2) == pytest.approx(math.sqrt(1 - sched.abar(2)))


def test_add_noise_moments() -> None:
    sched = NoiseSchedule(100)
    g = torch.Generator().manual_seed(0)
    x0 = MU + S * torch.randn(50_000, generator=g, dtype=torch.float64)
    t = torch.full((x0.shape[0],), 40, dtype=torch.long)
    xt = sched.add_noise(x0, torch.randn(x0.shape, generator=g, dtype=torch.float64), t)
    ab = sched.abar(40)
    assert float(xt.mean()) == pytest.approx(math.sqrt(ab) * MU, abs=5e-3)
    assert float(xt.var()) == pytest.approx(ab * S * S + 1 - ab, rel=2e-2)


def linear_eps(sched: NoiseSchedule, t: int) -> tuple[float, float]:
    """The exact ε for the Gaussian toy is linear: ε = a·x + b."""
    ab = sched.abar(t)
    a = math.sqrt(1 - ab) / (ab * S * S + 1 - ab)
    return a, -a * math.sqrt(ab) * MU


def moments_by_recursion(sched: NoiseSchedule, ts: list[int], stochastic: bool) -> tuple[float, float]:
    """Propagate (mean, var) of x_T ~ N(0, 1) through the linear reverse steps, textbook formulas."""
    m, v = 0.0, 1.0
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        ab, ab_p = sched.abar(t), sched.abar(t_prev)
        a, b = linear_eps(sched, t)
        # x0_hat = (x - sqrt(1-ab) (a x + b)) / sqrt(ab) = p x + q
        p = (1 - math.sqrt(1 - ab) * a) / math.sqrt(ab)
        q = -math.sqrt(1 - ab) * b / math.sqrt(ab)
        if stochastic:
            beta = 1 - ab / ab_p
            c0 = math.sqrt(ab_p) * beta / (1 - ab)
            ct = math.sqrt(ab / ab_p) * (1 - ab_p) / (1 - ab)
            A, B, noise_var = c0 * p + ct, c0 * q, (1 - ab_p) / (1 - ab) * beta
        else:
            A = math.sqrt(ab_p) * p + math.sqrt(1 - ab_p) * a
            B, noise_var = math.sqrt(ab_p) * q + math.sqrt(1 - ab_p) * b, 0.0
        m, v = A * m + B, A * A * v + noise_var
    return m, v


def run_chain(sched: NoiseSchedule, ts: list[int], stochastic: bool, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20_000, generator=g, dtype=torch.float64)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        eps = exact_eps(sched, x, t)
        if stochastic:
            noise = None if t_prev == -1 else torch.randn(x.shape, generator=g, dtype=torch.float64)
            x = sched.ddpm_step(x, eps, t, t_prev, noise, clip=False)
        else:
            x = sched.ddim_step(x, eps, t, t_prev, clip=False)
    return x


@pytest.mark.parametrize(("stochastic", "k"), [(True, 100), (False, 10), (False, 100)])
def test_chain_moments_match_closed_form_recursion(stochastic: bool, k: int) -> None:
    sched = NoiseSchedule(100)
    ts = sched.ddpm_timesteps() if k == 100 else sched.ddim_timesteps(k)
    x = run_chain(sched, ts, stochastic, seed=k + stochastic)
    m, v = moments_by_recursion(sched, ts, stochastic)
    assert float(x.mean()) == pytest.approx(m, abs=5e-3)
    assert float(x.std()) == pytest.approx(math.sqrt(v), rel=1.5e-2)


def test_full_chains_recover_the_data_distribution() -> None:
    """100 steps with the exact ε land close to N(mu, s²) (the residual is discretisation error)."""
    sched = NoiseSchedule(100)
    assert sched.ddim_timesteps(10) == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]
    for stochastic, tol in ((False, 0.06), (True, 0.1)):
        x = run_chain(sched, sched.ddpm_timesteps(), stochastic, seed=7)
        assert float(x.mean()) == pytest.approx(MU, abs=0.01)
        assert float(x.std()) == pytest.approx(S, rel=tol)


def test_single_step_to_clean_is_the_x0_prediction() -> None:
    """With point-mass data (s = 0) the exact ε makes one step from any t land on mu exactly."""
    sched = NoiseSchedule(100)
    x = torch.randn(100, dtype=torch.float64)
    for t in (0, 2, 37, 99):
        eps = exact_eps(sched, x, t, s=0.0)
        assert torch.allclose(sched.ddim_step(x, eps, t, -1, clip=False), torch.full_like(x, MU))
        assert torch.allclose(sched.ddpm_step(x, eps, t, -1, None, clip=False), torch.full_like(x, MU))


def test_ddpm_posterior_matches_textbook_for_one_step() -> None:
    """t -> t-1: mean = sqrt(ᾱ_{t-1}) β_t/(1-ᾱ_t) x0 + sqrt(α_t)(1-ᾱ_{t-1})/(1-ᾱ_t) x_t, var = β̃_t."""
    sched = NoiseSchedule(100)
    t = 30
    x_t = torch.tensor([0.7], dtype=torch.float64)
    eps = torch.tensor([0.1], dtype=torch.float64)
    ab, ab_p, beta, alpha = sched.abar(t), sched.abar(t - 1), float(sched.betas[t]), float(sched.alphas[t])
    x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    mean = math.sqrt(ab_p) * beta / (1 - ab) * x0 + math.sqrt(alpha) * (1 - ab_p) / (1 - ab) * x_t
    var = (1 - ab_p) / (1 - ab) * beta
    z = torch.tensor([1.5], dtype=torch.float64)
    got = sched.ddpm_step(x_t, eps, t, t - 1, z, clip=False)
    assert torch.allclose(got, mean + math.sqrt(var) * z)


def test_clip_bounds_x0() -> None:
    sched = NoiseSchedule(100)
    x = torch.full((4,), 5.0)
    out = sched.ddim_step(x, torch.zeros(4), 0, -1, clip=True)
    assert torch.all(out <= 1.0 + 1e-6)


def test_bad_arguments_are_named() -> None:
    sched = NoiseSchedule(100)
    with pytest.raises(ValueError, match="t_prev"):
        sched.ddim_step(torch.zeros(1), torch.zeros(1), 3, 3)
    with pytest.raises(ValueError, match="timestep"):
        sched.abar(100)
    with pytest.raises(ValueError, match="DDIM steps"):
        sched.ddim_timesteps(0)
    with pytest.raises(ValueError, match="needs noise"):
        sched.ddpm_step(torch.zeros(1), torch.zeros(1), 5, 4, None)
    with pytest.raises(ValueError, match="num_steps"):
        NoiseSchedule(0)
