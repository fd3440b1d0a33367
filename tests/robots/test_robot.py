"""The simulated robot's core, without an event loop: ticks on a scripted clock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liveloop.robots.protocol import (
    Action,
    ActionChunk,
    Codec,
    ErrorReport,
    RobotMode,
    RobotState,
    RobotStatus,
    Target,
)
from liveloop.robots.robot import SimConfig, SimRobotCore

MS = 1_000_000
PERIOD = 20 * MS
CODEC = Codec("sim")


def decode_all(outs: list) -> list:
    return [CODEC.decode(o.topic, o.payload) for o in outs]


def send(core: SimRobotCore, chunk: ActionChunk, now: int) -> list:
    topic, payload = CODEC.encode(chunk)
    return decode_all(core.on_message(topic, payload, now))


def states(msgs: list) -> list[RobotState]:
    return [m for m in msgs if isinstance(m, RobotState)]


def setpoint_chunk(seq: int, now: int, xy: tuple[float, float], grip: float = -1.0, state_seq: int = -1) -> ActionChunk:
    return ActionChunk(
        robot="sim",
        seq=seq,
        state_seq=state_seq,
        actions=[
            Action(now + 100 * MS, [float(xy[0]), float(xy[1]), grip]),
            Action(now + 200 * MS, [float(xy[0]), float(xy[1]), grip]),
        ],
    )


def test_idle_robot_holds_still_and_publishes_state() -> None:
    core = SimRobotCore(SimConfig(seed=1))
    start = core.obs[:2].copy()
    t = 0
    for _ in range(10):
        t += PERIOD
        msgs = decode_all(core.tick(t))
        st = states(msgs)[0]
        assert st.mode is RobotMode.IDLE
        assert st.t_ns == t
    np.testing.assert_allclose(core.obs[:2], start, atol=1e-12)
    assert st.seq == 9 and len(st.obs) == 7 and len(st.target) == 2


def test_fresh_actions_drive_the_robot_then_watchdog_stops_it() -> None:
    core = SimRobotCore(SimConfig(seed=1, watchdog_ms=100))
    t = PERIOD
    core.tick(t)
    x0, y0 = core.obs[:2]
    msgs = send(core, setpoint_chunk(0, t, (x0 + 0.3, y0), state_seq=0), t + MS)
    status = [m for m in msgs if isinstance(m, RobotStatus)]
    assert status and status[0].mode is RobotMode.RUNNING
    for _ in range(5):  # 100 ms of motion toward the set-point
        t += PERIOD
        core.tick(t)
    assert core.obs[0] > x0 + 0.05
    assert core.latency_stats()["state_to_action_n"] == 1
    # no fresh action for > 100 ms since the chunk arrived (t = 21 ms) → stopped at the next tick
    stopped_at = None
    for _ in range(5):
        t += PERIOD
        for m in decode_all(core.tick(t)):
            if isinstance(m, RobotStatus) and m.mode is RobotMode.STOPPED:
                stopped_at = t
                assert m.reason.startswith("watchdog: no fresh action for")
                assert m.watchdog_stops == 1
    assert stopped_at is not None and stopped_at - (PERIOD + MS) <= 100 * MS + PERIOD
    # stopped: zero velocity (the position stays), gripper held
    x_stop = core.obs[:2].copy()
    for _ in range(5):
        t += PERIOD
        st = states(decode_all(core.tick(t)))[0]
        assert st.mode is RobotMode.STOPPED
    np.testing.assert_allclose(core.obs[:2], x_stop, atol=1e-9)


def test_watchdog_stops_at_its_deadline_between_ticks() -> None:
    core = SimRobotCore(SimConfig(seed=1, watchdog_ms=100))
    t = PERIOD
    core.tick(t)
    x0 = core.obs[0]
    arrived = t + 7 * MS
    send(core, setpoint_chunk(0, t, (x0 + 0.5, core.obs[1])), arrived)
    deadline = core.watchdog_deadline_ns
    assert deadline == arrived + 100 * MS + 1  # not rounded to the 20 ms tick grid
    while t + PERIOD < deadline:
        t += PERIOD
        core.tick(t)
    assert core.expire(deadline - 1) == []  # not yet
    x_before = core.obs[0]
    msgs = decode_all(core.expire(deadline))
    stop = [m for m in msgs if isinstance(m, RobotStatus)]
    assert stop and stop[0].mode is RobotMode.STOPPED and stop[0].t_ns == deadline
    assert not states(msgs)  # states stay on the tick grid
    assert core.obs[0] > x_before  # it moved up to the stop under the command in force ...
    x_stop = core.obs[:2].copy()
    for _ in range(3):  # ... and holds from there
        t += PERIOD
        assert states(decode_all(core.tick(t)))[0].mode is RobotMode.STOPPED
    np.testing.assert_allclose(core.obs[:2], x_stop, atol=1e-9)
    assert core.watchdog_deadline_ns is None and core.watchdog.stops == 1


def test_watchdog_counts_from_the_state_an_action_answers() -> None:
    core = SimRobotCore(SimConfig(seed=1, watchdog_ms=100))
    t = PERIOD
    st = states(decode_all(core.tick(t)))[0]  # published at t
    xy = (float(core.obs[0]), float(core.obs[1]))
    send(core, setpoint_chunk(0, t, xy, state_seq=st.seq), t + 35 * MS)  # it spent 35 ms on the way
    assert core.watchdog_deadline_ns == t + 100 * MS + 1  # not t + 135 ms: the robot stops ≤ 100 ms after
    assert core.latency_stats()["state_to_action_ms_p50"] == 35.0  # the agent last saw it


def test_fresh_action_moves_the_watchdog_deadline() -> None:
    core = SimRobotCore(SimConfig(seed=1, watchdog_ms=100))
    core.tick(PERIOD)
    xy = (float(core.obs[0]), float(core.obs[1]))
    send(core, setpoint_chunk(0, PERIOD, xy), PERIOD)
    first = core.watchdog_deadline_ns
    send(core, setpoint_chunk(1, PERIOD, xy), PERIOD + 60 * MS)
    assert core.watchdog_deadline_ns == first + 60 * MS
    assert core.expire(first) == [] and core.mode is RobotMode.RUNNING


def test_gripper_held_through_a_stop() -> None:
    core = SimRobotCore(SimConfig(seed=2))
    t = PERIOD
    core.tick(t)
    x, y = core.obs[:2]
    send(core, setpoint_chunk(0, t, (x, y), grip=1.0), t)
    t += PERIOD
    core.tick(t)
    assert core.obs[2] == 1.0  # closed (a missed grasp, but closed)
    for _ in range(10):
        t += PERIOD
        core.tick(t)
    assert core.mode is RobotMode.STOPPED
    assert core.obs[2] == 1.0  # still closed


def test_stale_actions_never_replayed_after_stop() -> None:
    core = SimRobotCore(SimConfig(seed=3))
    t = PERIOD
    core.tick(t)
    x0, y0 = core.obs[:2]
    send(core, setpoint_chunk(5, t, (x0 + 0.3, y0)), t)
    for _ in range(8):
        t += PERIOD
        core.tick(t)
    assert core.mode is RobotMode.STOPPED
    # the same chunk again (a replay after a reconnect) and an older one: refused
    assert send(core, setpoint_chunk(5, t, (x0 - 0.3, y0)), t) == []
    assert send(core, setpoint_chunk(4, t, (x0 - 0.3, y0)), t) == []
    # a chunk whose times are all past: refused
    old = ActionChunk(robot="sim", seq=9, actions=[Action(t - 50 * MS, [float(x0), float(y0), -1.0])])
    assert send(core, old, t) == []
    assert core.mode is RobotMode.STOPPED
    assert core.schedule.stale_count == 3
    # a fresh one restarts it
    msgs = send(core, setpoint_chunk(10, t, (x0, y0 + 0.1)), t)
    assert any(isinstance(m, RobotStatus) and m.mode is RobotMode.RUNNING for m in msgs)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"garbage", None),
        (json.dumps({"v": 1, "robot": "sim", "seq": "x", "actions": []}).encode(), "$.seq"),
        (
            json.dumps({"v": 1, "robot": "sim", "seq": 1, "actions": [{"t_ns": 1, "u": [1.0]}]}).encode(),
            "$.actions[0].u",
        ),
        (b"{" + b" " * 70_000 + b"}", None),
    ],
)
def test_malformed_action_answered_on_error_topic(payload: bytes, field: str | None) -> None:
    core = SimRobotCore(SimConfig())
    outs = core.on_message("liveloop/sim/action", payload, 0)
    assert len(outs) == 1 and outs[0].topic == "liveloop/sim/error"
    report = CODEC.decode(outs[0].topic, outs[0].payload)
    assert isinstance(report, ErrorReport) and report.field == field
    assert report.payload_bytes == len(payload)
    assert core.errors_reported == 1
    core.tick(PERIOD)  # the loop goes on


def test_target_message_moves_the_world_target() -> None:
    core = SimRobotCore(SimConfig())
    topic, payload = CODEC.encode(Target(robot="sim", seq=0, position=[0.5, 0.6], velocity=[0.0, 0.0]))
    assert core.on_message(topic, payload, 0) == []
    core.tick(PERIOD)
    np.testing.assert_allclose(core.task.target, [0.5, 0.6])
    topic, payload = CODEC.encode(Target(robot="sim", seq=1, position=[0.5, 0.6, 0.1]))
    (err,) = decode_all(core.on_message(topic, payload, 0))
    assert isinstance(err, ErrorReport) and err.field == "$.position"


def test_episode_end_is_reported_and_next_starts() -> None:
    core = SimRobotCore(SimConfig(episode_s=0.2))
    t = 0
    reasons = []
    for _ in range(15):
        t += PERIOD
        reasons += [m.reason for m in decode_all(core.tick(t)) if isinstance(m, RobotStatus)]
    assert "episode 0 ended: timeout" in reasons
    assert core.episode >= 1 and core.outcomes["timeout"] >= 1


def test_config_validated() -> None:
    with pytest.raises(ValueError, match="rate_hz must be in"):
        SimConfig(rate_hz=0.5)
    with pytest.raises(ValueError, match="watchdog_ms must be in"):
        SimConfig(watchdog_ms=0)
