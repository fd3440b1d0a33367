"""The action schedule (interpolation, staleness) and the watchdog's mode machine."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.robots.protocol import Action, ActionChunk, RobotMode
from liveloop.robots.schedule import Acceptance, ActionSchedule, Watchdog

MS = 1_000_000


def chunk(seq: int, times_ms: list[int], us: list[list[float]]) -> ActionChunk:
    return ActionChunk(robot="r", seq=seq, actions=[Action(t * MS, u) for t, u in zip(times_ms, us, strict=True)])


def test_interpolates_continuous_and_holds_gripper() -> None:
    s = ActionSchedule(3, hold_dims=(2,))
    assert s.offer(chunk(0, [100, 200], [[0.0, 0.0, -1.0], [1.0, 2.0, 1.0]]), 50 * MS) is Acceptance.ACCEPTED
    np.testing.assert_allclose(s.due(80 * MS), [0.0, 0.0, -1.0])  # before the first: the first
    np.testing.assert_allclose(s.due(150 * MS), [0.5, 1.0, -1.0])  # halfway; gripper held until its time
    np.testing.assert_allclose(s.due(200 * MS), [1.0, 2.0, 1.0])
    assert s.due(201 * MS) is None  # used up: never extrapolated …
    assert s.due(150 * MS) is None  # … nor replayed


def test_stale_and_expired_chunks_refused() -> None:
    s = ActionSchedule(2)
    assert s.offer(chunk(5, [100], [[1.0, 1.0]]), 0) is Acceptance.ACCEPTED
    assert s.offer(chunk(5, [300], [[2.0, 2.0]]), 0) is Acceptance.STALE_SEQ  # duplicate
    assert s.offer(chunk(4, [300], [[2.0, 2.0]]), 0) is Acceptance.STALE_SEQ  # out of order
    assert s.offer(chunk(6, [10, 20], [[2.0, 2.0], [3.0, 3.0]]), 50 * MS) is Acceptance.EXPIRED  # all past
    assert s.offer(chunk(7, [10], [[2.0, 2.0, 2.0]]), 0) is Acceptance.WRONG_DIM
    assert s.stale_count == 3
    np.testing.assert_allclose(s.due(100 * MS), [1.0, 1.0])  # the accepted chunk is still in force
    assert s.last_seq == 5


def test_new_agent_session_starts_its_own_sequence() -> None:
    s = ActionSchedule(1)
    assert (
        s.offer(ActionChunk(robot="r", session="a", seq=40, actions=[Action(100 * MS, [1.0])]), 0).value == "accepted"
    )
    # the agent restarted: session b counts from 0 again, and is accepted while fresh
    assert s.offer(ActionChunk(robot="r", session="b", seq=0, actions=[Action(100 * MS, [2.0])]), 0).value == "accepted"
    # a replay of session a's old chunk is expired by then
    old = ActionChunk(robot="r", session="a", seq=41, actions=[Action(100 * MS, [1.0])])
    assert s.offer(old, 150 * MS) is Acceptance.EXPIRED


def test_newer_chunk_replaces_current() -> None:
    s = ActionSchedule(1)
    s.offer(chunk(0, [100, 200], [[0.0], [1.0]]), 0)
    s.offer(chunk(1, [120, 220], [[5.0], [6.0]]), 110 * MS)
    np.testing.assert_allclose(s.due(170 * MS), [5.5])


def test_clear_keeps_sequence() -> None:
    s = ActionSchedule(1)
    s.offer(chunk(3, [100], [[1.0]]), 0)
    s.clear()
    assert s.due(50 * MS) is None
    assert s.offer(chunk(3, [500], [[1.0]]), 0) is Acceptance.STALE_SEQ


def test_schedule_config_validated() -> None:
    with pytest.raises(ValueError, match="action_dim must be >= 1"):
        ActionSchedule(0)
    with pytest.raises(ValueError, match="hold_dims must be in"):
        ActionSchedule(2, hold_dims=(2,))


def test_watchdog_modes() -> None:
    w = Watchdog(100 * MS)
    assert w.mode is RobotMode.IDLE
    assert w.check(10_000 * MS) is None  # idle never times out: nothing to stop
    tr = w.fresh(0)
    assert tr is not None and tr.after is RobotMode.RUNNING and tr.reason == "first fresh action"
    assert w.fresh(50 * MS) is None
    assert w.deadline_ns == 150 * MS + 1  # the first instant at which check() stops the robot
    assert w.check(150 * MS) is None  # exactly at the timeout: still fine
    tr = w.check(151 * MS)
    assert tr is not None and tr.after is RobotMode.STOPPED
    assert "no fresh action for 101.0 ms" in tr.reason
    assert w.check(300 * MS) is None  # reported once
    assert w.deadline_ns is None  # stopped: nothing left to time out
    tr = w.fresh(400 * MS)
    assert tr is not None and tr.before is RobotMode.STOPPED and tr.after is RobotMode.RUNNING
    assert w.stops == 1


def test_an_action_is_as_fresh_as_the_state_it_answers() -> None:
    w = Watchdog(100 * MS)
    w.fresh(40 * MS, as_of_ns=10 * MS)  # decided on a state from 10 ms, received at 40 ms (30 ms in flight)
    assert w.mode is RobotMode.RUNNING and w.deadline_ns == 110 * MS + 1
    w.fresh(50 * MS, as_of_ns=5 * MS)  # an answer to an even older state never moves the deadline back
    assert w.deadline_ns == 110 * MS + 1
    w.check(111 * MS)
    assert w.mode is RobotMode.STOPPED
    assert w.fresh(300 * MS, as_of_ns=150 * MS) is None  # decided on a 150 ms old state: vouches for nothing
    assert w.mode is RobotMode.STOPPED
    assert w.fresh(300 * MS, as_of_ns=250 * MS) is not None and w.mode is RobotMode.RUNNING


def test_watchdog_config_validated() -> None:
    with pytest.raises(ValueError, match="watchdog timeout must be > 0"):
        Watchdog(0)
