"""Compiled (traced) inference gives the same numbers as eager PyTorch, and only where it was prepared."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveloop.policy.compiled import Backend
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.rti import DiscreteMode, RtiSampler
from liveloop.policy.samplers import FullSampler, StepKind, denoise
from tests.policy.conftest import make_tiny_policy


def _decisions(policy: DiffusionPolicy, sampler: RtiSampler | FullSampler, n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [sampler.decide(rng.uniform(-1, 1, size=(1, 2, 7))) for _ in range(n)]


def _same(got: list[np.ndarray], reference: list[np.ndarray], backend: Backend) -> bool:
    if backend is Backend.TORCHSCRIPT:  # bit for bit
        return all(np.array_equal(a, b) for a, b in zip(got, reference, strict=True))
    # ONNX Runtime: float32 rounding apart (the untrained tiny net's gripper sits near 0: compare positions)
    return all(np.allclose(a[..., :2], b[..., :2], atol=1e-4) for a, b in zip(got, reference, strict=True))


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("mode", [DiscreteMode.NONE, DiscreteMode.CLIP])
def test_rti_decisions_match_eager_compiled(mode: DiscreteMode, backend: Backend) -> None:
    eager = make_tiny_policy()
    fast = make_tiny_policy()  # same seed: the same weights
    reference = _decisions(eager, RtiSampler(eager, mode, seed=3))
    sampler = RtiSampler(fast, mode, seed=3)
    sampler.compile(1, backend)
    got = _decisions(fast, sampler)
    assert _same(got, reference, backend)
    assert not fast.net.training  # compiling never flips the shared net into training mode
    assert fast.compiled._chains  # the warm steps really ran as one traced chain
    sampler.decide(np.zeros((1, 2, 7)), max_nfe=1)  # every knob setting was prepared too
    assert {key[1] for key in fast.compiled._chains} >= {sampler.timesteps, sampler.timesteps[:1]}


@pytest.mark.parametrize("backend", list(Backend))
def test_full_ddpm_and_ddim_match_eager_compiled(backend: Backend) -> None:
    eager, fast = make_tiny_policy(), make_tiny_policy()
    for kind, k in ((StepKind.DDPM, None), (StepKind.DDIM, 5)):
        reference = _decisions(eager, FullSampler(eager, kind, k=k, seed=1), 2)
        sampler = FullSampler(fast, kind, k=k, seed=1)
        sampler.compile(1, backend)
        assert _same(_decisions(fast, sampler, 2), reference, backend)


def test_only_prepared_batch_sizes_and_eval_mode_are_compiled() -> None:
    policy = make_tiny_policy()
    policy.compile(2)
    x, cond = torch.zeros(3, 16, 3), torch.zeros(3, 14)
    assert policy.compiled.eps(x, 5, cond) is None  # batch 3 was never prepared: eager
    assert policy.compiled.eps(x[:2], 5, cond[:2]) is not None
    policy.net.train()
    assert policy.compiled.eps(x[:2], 5, cond[:2]) is None  # training: always eager
    policy.net.eval()
    with pytest.raises(ValueError, match="batch"):
        policy.compile(0)


def test_walk_needs_one_noise_draw_per_stochastic_step() -> None:
    policy = make_tiny_policy()
    x, cond = torch.zeros(1, 16, 3), torch.zeros(1, 14)
    with pytest.raises(ValueError, match="needs 2 noise draws, got 0"):
        policy.walk(x, cond, (2, 1, 0), StepKind.DDPM, [])
    out = denoise(policy, x, cond, (2, 1, 0), StepKind.DDPM, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
