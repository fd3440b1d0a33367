"""The agent's controller core: windows, decisions, heartbeats; no event loop."""

from __future__ import annotations

import numpy as np

from liveloop.robots.bridge import StateIn
from liveloop.robots.control import ControllerCore, ExpertResponder
from liveloop.robots.protocol import RobotMode, RobotState

MS = 1_000_000


class TwoStepResponder:
    """A scripted responder for the core's bookkeeping: returns its window's newest x as a 4-step plan."""

    name = "scripted"
    control_dt_s = 0.1
    replan_s = 0.1
    n_obs = 2

    def __init__(self) -> None:
        self.resets = 0
        self.windows: list[np.ndarray] = []

    def reset(self) -> None:
        self.resets += 1

    def decide(self, window: np.ndarray) -> np.ndarray:
        self.windows.append(window)
        return np.tile(window[-1][:3], (4, 1))

    def next_is_cheap(self) -> bool:
        return True


def state(seq: int, t_ns: int, x: float, episode: float = 0.0) -> StateIn:
    s = RobotState(robot="r", seq=seq, t_ns=t_ns, obs=[x] * 7, mode=RobotMode.RUNNING, info={"episode": episode})
    return StateIn(s, t_ns, t_ns)


def test_window_picks_observations_one_control_step_apart() -> None:
    core = ControllerCore(TwoStepResponder())
    for i in range(10):  # 50 Hz states, x = i
        core.observe(state(i, i * 20 * MS, float(i)))
    t, window = core.window()
    assert t == 9 * 20 * MS
    assert window.shape == (2, 7)
    assert window[:, 0].tolist() == [4.0, 9.0]  # 100 ms earlier, then now


def test_decisions_heartbeats_and_expiry() -> None:
    r = TwoStepResponder()
    core = ControllerCore(r)
    core.observe(state(0, 0, 1.0))
    assert core.decision_due(0)
    t_obs, window = core.window()
    plan = core.accept(t_obs, r.decide(window), now_ns=0)
    assert plan.times_ns.tolist() == [0, 100 * MS, 200 * MS, 300 * MS]
    assert not core.decision_due(50 * MS)
    assert core.decision_due(100 * MS)
    hb = core.heartbeat(150 * MS)  # keeps one step before now, drops older
    assert hb is not None and hb.times_ns.tolist() == [100 * MS, 200 * MS, 300 * MS]
    assert core.heartbeat(301 * MS) is None  # a plan that has run out is never re-sent


def test_new_episode_resets_responder_and_plan() -> None:
    r = TwoStepResponder()
    core = ControllerCore(r)
    core.observe(state(0, 0, 1.0, episode=0))
    core.accept(0, np.zeros((4, 3)), 0)
    core.observe(state(1, 20 * MS, 1.0, episode=1))
    assert r.resets == 1 and core.plan is None and len(core.history) == 1


def test_expert_responder_gives_one_setpoint() -> None:
    r = ExpertResponder(seed=0)
    obs = np.array([0.0, -0.8, -1.0, 0.3, 0.6, 0.1, 0.0])
    u = r.decide(obs[None])
    assert u.shape == (1, 3) and u[0, 2] in (-1.0, 1.0)
    core = ControllerCore(r)
    core.observe(state(0, 0, 0.0))
    plan = core.accept(0, u, 0)
    assert plan.times_ns.tolist() == [100 * MS]  # a single set-point is due one control step ahead


def test_hold_while_the_first_plan_of_an_episode_is_made() -> None:
    core = ControllerCore(TwoStepResponder(), think_s=1.0)
    core.observe(state(0, 0, 0.25, episode=0))
    hold = core.hold(10 * MS)
    assert hold is not None
    assert hold.u.tolist() == [[0.25, 0.25, 1.0]] * 3  # where it is; gripper obs[2] = 0.25 > 0: closed
    assert hold.times_ns.tolist() == [0, 100 * MS, 200 * MS]
    assert core.hold(1000 * MS) is None  # thinking for too long: silence, the watchdog decides
    core.accept(0, np.zeros((4, 3)), 20 * MS)
    assert core.hold(30 * MS) is None  # a plan exists: heartbeats, not holds
