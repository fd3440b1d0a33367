"""Push-T wrapper over gym-pusht: layout, determinism, cloning through a second env, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("gym_pusht", reason="Push-T needs gym-pusht (pip install gym-pusht==0.1.8)")

from liveloop.policy.tasks import get_task
from liveloop.policy.tasks.pusht import OBS_DIM, PushT, PushTError, PushTExpert


def test_reset_is_deterministic_and_laid_out() -> None:
    a, b = PushT(), PushT()
    oa, ob = a.reset(3), b.reset(3)
    assert oa.shape == (OBS_DIM,) and np.array_equal(oa, ob)
    assert 0 <= oa[4] < 2 * math.pi
    assert not np.array_equal(oa, a.reset(4))


def test_clone_through_a_second_env_continues_identically() -> None:
    env = PushT()
    obs = env.reset(3)
    for _ in range(3):  # move the pusher (not touching the block: contact caches are not cloned)
        obs = env.step(obs[:2] + 10.0).obs
    twin = env.clone()
    assert np.allclose(twin.state(), env.state())
    for act in ([200.0, 200.0], [250.0, 300.0]):
        r1, r2 = env.step(act), twin.step(act)
        assert np.allclose(r1.obs, r2.obs, atol=1e-6)


def test_expert_makes_progress() -> None:
    env, expert = PushT(), PushTExpert(seed=0)
    obs = env.reset(103)
    expert.reset()
    for _ in range(120):
        res = env.step(expert.act(obs))
        obs = res.obs
        if res.done:
            break
    assert res.info["max_coverage"] > 0.3  # it found the block and pushed it towards the goal


@pytest.mark.parametrize(
    ("action", "match"), [([1.0], "shape"), ([math.nan, 1.0], "finite"), ("x", "numeric"), ([[1.0, 2.0]], "shape")]
)
def test_bad_actions(action: object, match: str) -> None:
    env = PushT()
    env.reset(0)
    with pytest.raises(PushTError, match=match):
        env.step(action)
    with pytest.raises(PushTError, match="dt_s"):
        env.step([1.0, 1.0], 0.02)
    with pytest.raises(PushTError, match="state"):
        env.set_state([1.0, 2.0])


def test_registry() -> None:
    spec = get_task("pusht")
    assert (spec.obs_dim, spec.action_dim, spec.gripper_index, spec.max_steps) == (5, 2, None, 300)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")
