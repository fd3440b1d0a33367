"""K′ by the task's rule: the policy's own consecutive chunks (Push-T) or the expert's (reach-and-grasp)."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.policy.kprime import on_policy_pairs, pick_k_prime
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.tasks import KPrimePairs, get_task


def test_task_rules() -> None:
    assert get_task("reach_grasp").k_prime_pairs is KPrimePairs.DEMOS
    pusht = get_task("pusht")
    assert pusht.k_prime_pairs is KPrimePairs.POLICY and 0 < pusht.k_prime_margin < 1


def test_on_policy_pairs_are_consecutive_decisions(tiny_policy: DiffusionPolicy) -> None:
    prev, nxt = on_policy_pairs(tiny_policy, n_episodes=2)
    h, a = tiny_policy.config.horizon, tiny_policy.config.action_dim
    assert prev.shape == nxt.shape and prev.shape[1:] == (h, a) and len(prev) >= 2
    assert np.all(np.isfinite(prev))
    # the gripper is read back on the raw scale: ±1 at most
    assert np.all(np.abs(prev[..., 2]) <= 1.0 + 1e-6)
    with pytest.raises(ValueError, match="n_episodes"):
        on_policy_pairs(tiny_policy, n_episodes=0)


def test_pick_k_prime_follows_the_task(tiny_policy: DiffusionPolicy) -> None:
    with pytest.raises(ValueError, match="demonstration chunks: pass demo_pairs"):
        pick_k_prime(tiny_policy)  # reach_grasp picks on the expert's chunks
    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.normal(0, 0.002, size=(50, 17, 3)), axis=1)
    traj[..., 2] = -1.0
    settings, rule = pick_k_prime(tiny_policy, (traj[:, :16], traj[:, 1:]))
    assert settings.k_prime >= 2 and settings.timesteps[-1] == 0 and len(settings.timesteps) <= 3
    assert rule.startswith(f"K'={settings.k_prime}: 97 % of 50 consecutive demonstration chunk pairs")


def test_shipped_pusht_k_prime_was_picked_on_the_policy() -> None:
    policy = DiffusionPolicy.load("pusht")
    assert "chunk pairs of the policy" in policy.meta["k_prime_rule"]
    assert policy.meta["k_prime_rule"].startswith(f"K'={policy.rti.k_prime}:")
