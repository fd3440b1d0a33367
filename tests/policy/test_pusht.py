"""Push-T wrapper over gym-pusht: layout, determinism, cloning through a second env, bad input; the planning expert."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

pytest.importorskip("gym_pusht", reason="Push-T needs gym-pusht (pip install gym-pusht==0.1.8)")

from liveloop.policy.tasks import get_task
from liveloop.policy.tasks.pusht import (
    GOAL,
    OBS_DIM,
    PushSim,
    PushT,
    PushTError,
    PushTExpert,
    block_pose,
    dist_to_t,
    keypoint_error,
    route,
)


def test_reset_is_deterministic_and_laid_out() -> None:
    a, b = PushT(), PushT()
    oa, ob = a.reset(3), b.reset(3)
    assert oa.shape == (OBS_DIM,) and np.array_equal(oa, ob)
    state = a.state()  # gym-pusht's [ax, ay, bx, by, angle], the angle in [0, 2π)
    assert 0 <= state[4] < 2 * math.pi and np.allclose(oa[:2], state[:2])
    c, s = math.cos(state[4]), math.sin(state[4])
    assert np.allclose(oa[2:4], state[2:4] + np.array([-60.0 * c, -60.0 * s]))  # the bar's top-left corner
    assert np.allclose(oa[6:8], state[2:4] + np.array([-120.0 * s, 120.0 * c]))  # the stem's foot
    assert np.allclose(block_pose(oa), [*state[2:4], math.atan2(s, c)])
    assert not np.array_equal(oa, a.reset(4))


def test_clone_through_a_second_env_continues_identically() -> None:
    env = PushT()
    env.reset(3)
    for _ in range(3):  # move the pusher (not touching the block: contact caches are not cloned)
        env.step([10.0, 10.0])
    twin = env.clone()
    assert np.allclose(twin.state(), env.state())
    for act in ([-20.0, 30.0], [25.0, -10.0]):
        r1, r2 = env.step(act), twin.step(act)
        assert np.allclose(r1.obs, r2.obs, atol=1e-6)


def test_push_sim_matches_the_env() -> None:
    """The block rests between pushes (damping 0), so the planner's model env reproduces a push from rest exactly."""
    env = PushT()
    env.reset(7)
    env.set_state([340.0, 206.0, 256.0, 200.0, 0.0])  # the pusher 9 px right of the bar's end, near its top
    setpoints = np.array([[340.0 - 8.0 * k, 206.0] for k in range(1, 7)])  # push left, off-centre: it turns
    poses = PushSim().rollout(env.state()[:2], np.array([256.0, 200.0, 0.0]), setpoints)
    for sp, pose in zip(setpoints, poses, strict=True):
        obs = env.step(sp - env.state()[:2]).obs  # the action is the set-point relative to the pusher
        assert np.allclose(block_pose(obs), pose, atol=1e-6)
    assert not np.allclose(poses[0], poses[-1])  # it did push the block


def test_keypoint_error_and_route_round_the_t() -> None:
    assert keypoint_error(GOAL) == pytest.approx(0.0)
    assert keypoint_error(GOAL + np.array([10.0, 0.0, 0.0])) == pytest.approx(10.0)
    pose = np.array([256.0, 200.0, 0.0])  # bar from x 196 to 316 at y 200..230, stem down to y 320
    agent, goal = np.array([256.0, 170.0]), np.array([256.0, 345.0])  # above the bar -> below the stem's foot
    path = route(pose, agent, goal)
    assert path is not None and np.allclose(path[-1], goal) and len(path) >= 2
    pts = np.vstack([agent, *path])
    for a, b in itertools.pairwise(pts):  # every leg keeps the pusher (radius 15) off the T
        assert np.all(dist_to_t(pose, a + np.linspace(0, 1, 50)[:, None] * (b - a)) > 15.0)


def run_expert(seed: int, steps: int = 300) -> tuple[bool, float]:
    env, expert = PushT(), PushTExpert(seed=0)
    obs = env.reset(seed)
    expert.reset()
    for _ in range(steps):
        res = env.step(expert.act(obs))
        obs = res.obs
        if res.done:
            break
    return res.success, res.info["max_coverage"]


def test_expert_solves_a_known_seed() -> None:
    """Seed 10: the block starts far from the goal and turned; the expert walks round it, pushes and finishes."""
    success, coverage = run_expert(10)
    assert success and coverage > 0.95


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
    assert (spec.obs_dim, spec.action_dim, spec.gripper_index, spec.max_steps) == (8, 2, None, 300)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")
