"""The reach-and-grasp simulator: determinism, state round trip, rules, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liveloop.policy.tasks.reach_grasp import (
    OBS_DIM,
    Outcome,
    ReachGrasp,
    ReachGraspConfig,
    ReachGraspError,
    ReachGraspExpert,
    TargetMode,
)


def run_expert(seed: int, expert_seed: int = 0) -> tuple[list[np.ndarray], bool, ReachGraspExpert]:
    env, expert = ReachGrasp(), ReachGraspExpert(seed=expert_seed)
    obs = env.reset(seed)
    expert.reset()
    traj = [obs]
    for _ in range(60):
        res = env.step(expert.act(obs))
        obs = res.obs
        traj.append(obs)
        if res.done:
            return traj, res.success, expert
    return traj, False, expert


def test_deterministic_given_seed() -> None:
    a, ok_a, _ = run_expert(3)
    b, ok_b, _ = run_expert(3)
    assert ok_a == ok_b
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c, _, _ = run_expert(4)
    assert not np.array_equal(a[0], c[0])


def test_expert_succeeds_and_takes_both_routes() -> None:
    sides, wins = set(), 0
    for seed in range(12):
        traj, ok, expert = run_expert(seed, expert_seed=seed)
        wins += ok
        sides.add(expert.side)
        xs_below = [o[0] for o in traj if o[1] < 0.0]
        assert min(abs(x) for x in xs_below[-3:]) > 0.3  # it went around, not through
    assert wins >= 11
    assert sides == {-1.0, 1.0}


def test_observation_layout() -> None:
    env = ReachGrasp()
    obs = env.reset(0)
    assert obs.shape == (OBS_DIM,)
    assert obs[2] == -1.0  # gripper open
    assert np.allclose(obs[0:2], env.robot) and np.allclose(obs[3:5], env.target)


def test_state_dict_is_json_and_resumes_exactly() -> None:
    env = ReachGrasp()
    env.reset(5)
    for _ in range(4):
        env.step([0.3, -0.5, -1.0])
    state = json.loads(json.dumps(env.state_dict()))
    twin = ReachGrasp()
    twin.load_state_dict(state)
    for _ in range(5):
        r1, r2 = env.step([0.4, -0.2, -1.0]), twin.step([0.4, -0.2, -1.0])
        assert np.array_equal(r1.obs, r2.obs)
    with pytest.raises(ReachGraspError, match="bad reach-grasp state"):
        twin.load_state_dict({"time_s": 0.0})


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ([0.0, 0.0], "shape"),
        ([[0.0, 0.0, 1.0]], "shape"),
        ([math.nan, 0.0, 1.0], "finite"),
        ([0.0, math.inf, 1.0], "finite"),
        ("left", "numeric"),
        (None, "shape"),
    ],
)
def test_bad_actions_raise_named_errors(action: object, match: str) -> None:
    env = ReachGrasp()
    env.reset(0)
    with pytest.raises(ReachGraspError, match=match):
        env.step(action)


def test_bad_dt_and_step_after_done() -> None:
    env = ReachGrasp(ReachGraspConfig(max_time_s=0.2))
    env.reset(0)
    for bad in (0.0, -0.1, math.nan):
        with pytest.raises(ReachGraspError, match="dt_s"):
            env.step([0, -0.8, -1], bad)
    res = env.step([0, -0.8, -1], 0.2)
    assert res.done and not res.success and res.info["outcome"] == Outcome.TIMEOUT.value
    with pytest.raises(ReachGraspError, match="reset"):
        env.step([0, -0.8, -1])


def test_fifty_hz_steps_match_ten_hz() -> None:
    """Holding an action for 5 steps of 20 ms is the same physics as one step of 100 ms."""
    a, b = ReachGrasp(), ReachGrasp()
    a.reset(1)
    b.reset(1)
    for _ in range(5):
        r = a.step([0.5, -0.5, -1.0], 0.02)
    r10 = b.step([0.5, -0.5, -1.0], 0.1)
    assert np.allclose(r.obs, r10.obs)


def test_collision_fails() -> None:
    env = ReachGrasp()
    env.reset(0)
    for _ in range(30):
        res = env.step([0.0, 0.0, -1.0])  # straight into the obstacle
        if res.done:
            break
    assert res.done and not res.success and res.info["outcome"] == "collision"


def test_grasp_hold_and_missed_grasps() -> None:
    env = ReachGrasp()
    env.reset(0)
    env.set_target([0.5, 0.6], [0.0, 0.0])
    assert env.target_mode is TargetMode.CONSTANT
    env.robot = np.array([0.5, 0.6])
    res = env.step([0.5, 0.6, 1.0])
    assert res.info["held"] and not res.done
    for _ in range(10):
        res = env.step([0.5, 0.6, 1.0])
        if res.done:
            break
    assert res.success and res.reward == 1.0
    env.reset(0)
    env.set_target([0.5, 0.6])
    for i in range(3):  # close on air three times: the third is one too many
        env.step([0.0, -0.8, -1.0])
        res = env.step([0.0, -0.8, 1.0])
        assert res.info["missed_grasps"] == i + 1
    assert res.done and res.info["outcome"] == "missed_grasps"


def test_target_trajectory_from_outside() -> None:
    env = ReachGrasp()
    env.reset(0)
    env.set_target_trajectory([0.0, 1.0], [[-0.5, 0.5], [0.5, 0.5]])
    obs = env.step([0.0, -0.8, -1.0], 0.5).obs
    assert np.allclose(obs[3:5], [0.0, 0.5]) and np.allclose(obs[5:7], [1.0, 0.0])
    obs = env.step([0.0, -0.8, -1.0], 1.0).obs
    assert np.allclose(obs[3:5], [0.5, 0.5]) and np.allclose(obs[5:7], [0.0, 0.0])
    with pytest.raises(ReachGraspError, match="increasing"):
        env.set_target_trajectory([1.0, 1.0], [[0, 0], [1, 1]])
    with pytest.raises(ReachGraspError, match="shape"):
        env.set_target_trajectory([0.0, 1.0], [[0, 0]])
    with pytest.raises(ReachGraspError, match="finite"):
        env.set_target([math.nan, 0.0])


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="max_speed_mps must be"):
        ReachGraspConfig(max_speed_mps=0)
    with pytest.raises(ValueError, match="target_box"):
        ReachGraspConfig(target_box=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="physics_dt_s"):
        ReachGraspConfig(physics_dt_s=0.5)
