"""The steering core without a loop: goals, states and tracks in; target commands and holds out."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from liveloop.agent.responder import Goal, GoalKind
from liveloop.robots.steering import FREE, Pursuit, SteeringConfig, SteeringCore, TargetCommand, TargetMapping
from liveloop.robots.view import RobotView

MS = 1_000_000
SIZE = (640, 480)


def track(label: str, cx: float, cy: float, vx_px_s: float = 0.0) -> SimpleNamespace:
    """A stand-in for a vision PredictedTrack: a box centre, a label and a 1 s straight forecast."""
    box = SimpleNamespace(cx=cx, cy=cy)
    forecast = SimpleNamespace(t_ns=np.array([0, 1_000 * MS]), xy=np.array([[cx, cy], [cx + vx_px_s, cy]]))
    return SimpleNamespace(box=box, forecast=forecast, track=SimpleNamespace(label=label))


def test_starts_following_and_holds_on_stop() -> None:
    s = SteeringCore()
    assert s.pursuit is Pursuit.TRACK and not s.holding
    assert s.on_goal(Goal(GoalKind.STOP), 0) == []
    assert s.holding and s.epoch == 0
    u, times = s.hold_chunk([0.2, -0.5, 1.0, 0.0, 0.6, 0.0, 0.0], t_ns=10 * MS, dt_ns=100 * MS)
    assert u.tolist() == [[0.2, -0.5, 1.0]] * 3  # where it is, gripper as it is
    assert times.tolist() == [10 * MS, 110 * MS, 210 * MS]
    assert s.on_goal(Goal(GoalKind.FOLLOW), 0) == [FREE]  # let go: the target moves by itself until a track shows
    assert not s.holding and s.epoch == 1  # the policy restarts


@pytest.mark.parametrize(
    ("direction", "expected"), [("left", (-0.3, 0.6)), ("right", (0.3, 0.6)), ("forward", (0.0, 0.85))]
)
def test_move_shifts_the_target_from_where_it_is(direction: str, expected: tuple[float, float]) -> None:
    s = SteeringCore()
    s.on_state([0.0, 0.6], episode=0.0, now_ns=0)
    (cmd,) = s.on_goal(Goal(GoalKind.MOVE, direction=direction), 0)
    assert cmd.velocity == (0.0, 0.0) and not cmd.free
    assert cmd.position == pytest.approx(expected)  # forward: 0.9 clamped into the target box (y <= 0.85)
    assert s.pursuit is Pursuit.POINT


def test_moves_add_up_and_a_new_episode_gets_the_target_again() -> None:
    s = SteeringCore()
    s.on_state([0.0, 0.6], 0.0, 0)
    s.on_goal(Goal(GoalKind.MOVE, direction="left"), 0)
    (cmd,) = s.on_goal(Goal(GoalKind.MOVE, direction="left"), 0)
    assert cmd.position == pytest.approx((-0.6, 0.6))  # from the point, not from where the robot saw it
    assert s.on_state([0.5, 0.5], 0.0, 0) == []
    assert s.on_state([0.1, 0.4], 1.0, 0) == [cmd]  # the simulator's new episode reset its target
    assert s.on_goal(Goal(GoalKind.MOVE, direction="sideways"), 0) == []  # unknown: nothing changes
    assert s.pursuit is Pursuit.POINT and "sideways" in (s.last_error or "")


def test_tracks_steer_the_target_only_while_following() -> None:
    s = SteeringCore(SteeringConfig(mapping=TargetMapping(every_s=0.1)))
    (cmd,) = s.on_tracks([track("face", 320, 240, vx_px_s=64)], SIZE, 0)
    assert cmd.position == pytest.approx((0.0, 0.6))
    assert cmd.velocity == pytest.approx((0.16, 0.0))  # 64 px/s of 640 px over a 1.6 m box
    assert s.on_tracks([track("face", 0, 0)], SIZE, 50 * MS) == []  # at most every 0.1 s
    s.on_goal(Goal(GoalKind.MOVE, direction="left"), 0)
    assert s.on_tracks([track("face", 0, 0)], SIZE, 500 * MS) == []  # going to a point: tracks ignored
    s.on_goal(Goal(GoalKind.STOP), 0)
    assert s.on_tracks([track("face", 0, 0)], SIZE, 600 * MS) == []


def test_follow_a_label_picks_that_track_and_a_lost_track_lets_go() -> None:
    s = SteeringCore(SteeringConfig(lost_after_s=1.0))
    s.on_goal(Goal(GoalKind.FOLLOW, target="person"), 0)
    assert s.on_tracks([track("cup", 0, 0)], SIZE, 0) == []  # not what was asked for
    (cmd,) = s.on_tracks([track("cup", 0, 0), track("person", 640, 480)], SIZE, 10 * MS)
    assert cmd.position == pytest.approx((0.8, 0.35))
    assert s.describe()["tracking"] and s.describe()["text"] == "following the person"
    assert s.on_state([0.8, 0.35], 0.0, 900 * MS) == []
    assert s.on_state([0.8, 0.35], 0.0, 1_100 * MS) == [FREE]  # lost for > 1 s
    assert not s.describe()["tracking"]


def test_follow_me_means_any_track() -> None:
    s = SteeringCore()
    s.on_goal(Goal(GoalKind.FOLLOW, target="me"), 0)
    assert s.label is None
    assert len(s.on_tracks([track("face", 100, 100)], SIZE, 0)) == 1


def test_config_validated() -> None:
    with pytest.raises(ValueError, match="move_step_m"):
        SteeringConfig(move_step_m=0)
    with pytest.raises(ValueError, match="hold_steps"):
        SteeringConfig(hold_steps=1)
    assert TargetCommand((1.0, 2.0)) != FREE


def test_view_events() -> None:
    from liveloop.robots.bridge import StateIn, StatusIn
    from liveloop.robots.protocol import RobotMode, RobotState, RobotStatus

    view = RobotView("sim")
    assert view.event(None, 0) is None
    hello = view.hello()
    assert hello["obstacle"]["r"] == 0.3 and hello["target_box"] == [-0.8, 0.35, 0.8, 0.85]
    st = RobotState(
        robot="sim", seq=3, t_ns=0, obs=[0.1, -0.7, -1.0, 0.2, 0.6, 0.1, 0.0], mode=RobotMode.RUNNING,
        info={"episode": 2.0, "held": 0.0},
    )  # fmt: skip
    view.on_state(StateIn(st, 5 * MS, 6 * MS))
    view.on_plan(np.array([[0.1, -0.6, -1.0], [0.1, -0.5, -1.0]]), np.array([0, 1]))
    status = RobotStatus(robot="sim", seq=0, t_ns=0, mode=RobotMode.STOPPED, reason="watchdog: no fresh action")
    statuses = [StatusIn(status, 0)]
    view.on_statuses(statuses)
    view.on_statuses(statuses)  # seen already: logged once
    ev = view.event({"pursuit": "track"}, now_ns=8 * MS)
    assert ev is not None
    assert ev["robot"] == [0.1, -0.7] and ev["target"] == [0.2, 0.6] and ev["episode"] == 2
    assert ev["plan"] == [[0.1, -0.6], [0.1, -0.5]] and ev["age_ms"] == 3.0 and ev["mode"] == "running"
    assert ev["log"] == ["stopped: watchdog: no fresh action"]
