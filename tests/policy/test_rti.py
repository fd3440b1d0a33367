"""RTI: the warm-start shift, discrete-action variants, K′ choice, and the sampler's NFE pattern."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.rti import (
    ColdStart,
    DiscreteMode,
    RtiSampler,
    choose_k_prime,
    clip_discrete,
    rti_timesteps,
    shift_chunk,
)
from liveloop.policy.samplers import FullSampler, StepKind


def test_shift_drops_first_and_repeats_last() -> None:
    chunk = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    out = shift_chunk(chunk)
    assert out.shape == chunk.shape
    assert torch.equal(out[:, :3], chunk[:, 1:])
    assert torch.equal(out[:, 3], chunk[:, 3])
    assert torch.equal(shift_chunk(chunk, 2)[:, 2:], chunk[:, 3:].expand(-1, 2, -1))
    with pytest.raises(ValueError, match="shift"):
        shift_chunk(chunk, 4)
    with pytest.raises(ValueError, match="B, H, A"):
        shift_chunk(chunk[0])


def test_clip_discrete_touches_only_the_gripper() -> None:
    warm = torch.tensor([[[2.0, -2.0, -1.0], [0.5, 0.5, 1.0]]])
    out = clip_discrete(warm, [2], 0.05)
    assert torch.equal(out[..., :2], warm[..., :2])
    assert torch.allclose(out[..., 2], torch.tensor([[-0.05, 0.05]]))


def test_rti_timesteps() -> None:
    assert rti_timesteps(2) == (2, 1, 0)
    assert rti_timesteps(1) == (1, 0)
    assert rti_timesteps(17) == (17, 8, 0) or rti_timesteps(17) == (17, 9, 0)
    assert len(rti_timesteps(40)) <= 3
    assert rti_timesteps(17, max_nfe=1) == (17,)
    assert rti_timesteps(2, max_nfe=2) == (2, 0)
    with pytest.raises(ValueError, match="max_nfe"):
        rti_timesteps(2, max_nfe=0)


def test_gripper_threshold_by_sign(tiny_scaled_policy: DiffusionPolicy) -> None:
    x0 = torch.zeros(1, 16, 3)
    x0[0, :8, 2] = 0.03  # scaled "closed" (+0.1 would be fully closed)
    x0[0, 8:, 2] = -0.02
    acts = tiny_scaled_policy.to_actions(x0)
    assert np.all(acts[0, :8, 2] == 1.0) and np.all(acts[0, 8:, 2] == -1.0)
    assert np.allclose(tiny_scaled_policy.act_norm.normalize(np.array([[0.0, 0.0, 1.0]]))[0, 2], 0.1)


def test_k_prime_contractivity_choice(tiny_policy: DiffusionPolicy, tiny_scaled_policy: DiffusionPolicy) -> None:
    rng = np.random.default_rng(0)
    n, h = 200, 16
    traj = np.cumsum(rng.normal(0, 0.002, size=(n, h + 1, 3)), axis=1)  # smooth motions
    traj[..., 2] = -1.0
    prev, nxt = traj[:, :h].copy(), traj[:, 1:].copy()
    nxt[:, -1] = nxt[:, -2]  # a shift-consistent pair apart from the last action
    smooth = choose_k_prime(tiny_policy, prev, nxt)
    assert smooth.k_prime == 2 and smooth.timesteps == (2, 1, 0)  # floored at the paper's [2, 1, 0]
    # Every window flips the gripper at its first executed step: the unscaled policy needs a high K′ ...
    nxt_flip = nxt.copy()
    nxt_flip[:, 1:, 2] = 1.0
    plain = choose_k_prime(tiny_policy, prev, nxt_flip)
    scaled = choose_k_prime(tiny_scaled_policy, prev, nxt_flip)
    assert plain.k_prime > scaled.k_prime >= 2  # ... the scaled one (gripper / 10) far less
    assert len(plain.timesteps) <= 3 and plain.timesteps[-1] == 0
    assert len(plain.curve) == tiny_policy.schedule.num_steps  # every candidate level, 0 … T-1
    # A margin asks the warm start's error to sit well inside the noise: K′ can only go up.
    noisy = traj[:, 1:] + rng.normal(0, 0.05, size=nxt.shape)
    loose = choose_k_prime(tiny_policy, prev, noisy)
    tight = choose_k_prime(tiny_policy, prev, noisy, margin=0.25)
    assert tight.k_prime > loose.k_prime > 2
    with pytest.raises(ValueError, match="margin"):
        choose_k_prime(tiny_policy, prev, noisy, margin=0.0)


def test_rti_sampler_first_full_then_warm(tiny_policy: DiffusionPolicy) -> None:
    sampler = RtiSampler(tiny_policy, DiscreteMode.NONE, seed=0)
    obs = np.zeros((3, 2, 7))
    first = sampler.decide(obs)
    assert first.shape == (3, 16, 3) and sampler.last_nfe == 100
    prev = sampler.prev_clean.clone()
    expected_warm = shift_chunk(prev)
    assert torch.equal(sampler.warm_start(), expected_warm)
    sampler.decide(obs)
    assert sampler.last_nfe == 3
    sampler.decide(obs, max_nfe=1)  # the node's cheapest knob
    assert sampler.last_nfe == 1
    sampler.reset()
    sampler.decide(obs[:1])
    assert sampler.last_nfe == 100


def test_rti_cold_start_variants(tiny_policy: DiffusionPolicy) -> None:
    obs = np.zeros((1, 2, 7))
    quick = RtiSampler(tiny_policy, DiscreteMode.NONE, seed=0, cold=ColdStart.DDIM10)
    quick.decide(obs)
    assert quick.last_nfe == 10 and quick.cold_timesteps == (90, 80, 70, 60, 50, 40, 30, 20, 10, 0)
    quick.decide(obs)
    assert quick.last_nfe == 3  # then warm, as always
    assert RtiSampler(tiny_policy).cold is ColdStart.DDPM100  # the paper's full denoise by default


def test_rti_clip_variant_clips_warm_start(tiny_policy: DiffusionPolicy) -> None:
    sampler = RtiSampler(tiny_policy, DiscreteMode.CLIP, seed=0)
    sampler.decide(np.zeros((2, 2, 7)))
    sampler.prev_clean[..., 2] = 1.0
    warm = sampler.warm_start()
    sigma = tiny_policy.schedule.sigma(sampler.timesteps[0])
    assert torch.allclose(warm[..., 2], torch.full_like(warm[..., 2], sigma))


def test_rti_rejects_bad_variants(tiny_policy: DiffusionPolicy) -> None:
    with pytest.raises(ValueError, match="gripper_scale"):
        RtiSampler(tiny_policy, DiscreteMode.SCALE)
    with pytest.raises(ValueError, match="strictly decrease"):
        RtiSampler(tiny_policy, timesteps=(2, 2, 0))
    with pytest.raises(ValueError, match="strictly decrease"):
        RtiSampler(tiny_policy, timesteps=(2, -1))
    with pytest.raises(RuntimeError, match="full denoise"):
        RtiSampler(tiny_policy).warm_start()


def test_full_samplers_nfe(tiny_policy: DiffusionPolicy) -> None:
    obs = np.zeros((2, 2, 7))
    ddim = FullSampler(tiny_policy, StepKind.DDIM, k=10)
    assert ddim.decide(obs).shape == (2, 16, 3) and ddim.last_nfe == 10
    ddpm = FullSampler(tiny_policy, StepKind.DDPM)
    ddpm.decide(obs)
    assert ddpm.last_nfe == 100
    with pytest.raises(ValueError, match="obs window"):
        ddim.decide(np.zeros((2, 3, 7)))
    with pytest.raises(ValueError, match="finite"):
        ddim.decide(np.full((1, 2, 7), np.nan))
