from __future__ import annotations

import numpy as np
import pytest
import torch

from liveloop.policy.model import DiffusionPolicy, PolicyConfig
from liveloop.policy.normalizer import LinearNormalizer

# One intra-op thread: on this shared 2-core machine two threads contend badly (≈ 30× slower under load).
torch.set_num_threads(1)


def make_tiny_policy(gripper_scale: float = 1.0, seed: int = 0) -> DiffusionPolicy:
    """An untrained reach-grasp-shaped policy with a very small network (shapes and plumbing only)."""
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        task="reach_grasp", obs_dim=7, action_dim=3, gripper_index=2, gripper_scale=gripper_scale, down_dims=(8, 16)
    )
    obs_norm = LinearNormalizer(np.full(7, -1.0), np.full(7, 1.0))
    act_norm = LinearNormalizer.fit(
        np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]), discrete_dims=(2,), discrete_scale=gripper_scale
    )
    policy = DiffusionPolicy(cfg, obs_norm, act_norm)
    policy.net.eval()
    return policy


@pytest.fixture
def tiny_policy() -> DiffusionPolicy:
    return make_tiny_policy()


@pytest.fixture
def tiny_scaled_policy() -> DiffusionPolicy:
    return make_tiny_policy(gripper_scale=0.1)
