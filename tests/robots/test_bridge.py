"""The agent's core, without an event loop: decoding, clock mapping, numbering, answering faults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liveloop.robots.bridge import AgentCore, BridgeConfig, RemoteError, StateIn, StatusIn, TokenBucket
from liveloop.robots.clocksync import NoEstimate
from liveloop.robots.link import Outgoing
from liveloop.robots.protocol import (
    ActionChunk,
    Codec,
    ErrorReport,
    ProtocolError,
    RobotMode,
    RobotState,
    RobotStatus,
    Side,
)

MS = 1_000_000
ROBOT = Codec("arm")
OFFSET = 7_000 * MS  # the robot's clock is 7 s behind the graph clock


def state_bytes(seq: int, t_ns: int) -> tuple[str, bytes]:
    return ROBOT.encode(RobotState(robot="arm", seq=seq, t_ns=t_ns, obs=[0.0] * 7, mode=RobotMode.RUNNING))


def test_state_mapped_onto_graph_clock() -> None:
    core = AgentCore(BridgeConfig(robot_id="arm"))
    for i in range(20):
        t_robot = i * 20 * MS
        topic, payload = state_bytes(i, t_robot)
        (item,) = core.feed(topic, payload, t_robot + OFFSET + MS + (i % 3) * MS)
        assert isinstance(item, StateIn)
    assert item.origin_ns == 19 * 20 * MS + OFFSET + MS  # offset + the minimum delay
    assert core.stats.states == 20


def test_actions_timed_on_robot_clock_and_numbered() -> None:
    core = AgentCore(BridgeConfig(robot_id="arm", action_qos=1))
    with pytest.raises(NoEstimate):
        core.actions(np.zeros((1, 3)), np.array([0]))
    topic, payload = state_bytes(0, 1_000 * MS)
    core.feed(topic, payload, 1_000 * MS + OFFSET)
    u = np.array([[0.1, 0.2, -1.0], [0.2, 0.3, 1.0]])
    times = np.array([1_100 * MS, 1_200 * MS]) + OFFSET
    out = core.actions(u, times, state_seq=0)
    assert out.qos == 1 and out.topic == "liveloop/arm/action"
    chunk = ROBOT.decode(out.topic, out.payload)
    assert isinstance(chunk, ActionChunk)
    assert [a.t_ns for a in chunk.actions] == [1_100 * MS, 1_200 * MS]
    assert chunk.actions[1].u == [0.2, 0.3, 1.0] and chunk.state_seq == 0 and chunk.seq == 0
    assert ROBOT.decode(*core.actions(u, times)[:2]).seq == 1  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="actions must be"):
        core.actions(np.zeros((2, 3)), np.array([1]))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"\x00\x01", None),
        (json.dumps({"v": 1, "robot": "arm", "seq": 0, "t_ns": "soon", "obs": []}).encode(), "$.t_ns"),
        (json.dumps({"v": 1, "robot": "arm", "seq": 0, "t_ns": 1, "obs": [], "mode": "dancing"}).encode(), "$.mode"),
        (b" " * 70_000, None),
    ],
)
def test_malformed_state_answered_naming_field(payload: bytes, field: str | None) -> None:
    core = AgentCore(BridgeConfig(robot_id="arm"))
    (out,) = core.feed("liveloop/arm/state", payload, 5)
    assert isinstance(out, Outgoing) and out.topic == "liveloop/arm/error"
    report = ROBOT.decode(out.topic, out.payload)
    assert isinstance(report, ErrorReport)
    assert report.source is Side.AGENT and report.field == field
    assert isinstance(core.last_fault, ProtocolError)
    # and the next good state still goes through
    topic, good = state_bytes(1, 10)
    assert isinstance(core.feed(topic, good, 20)[0], StateIn)


def test_error_answers_rate_limited_under_a_flood() -> None:
    core = AgentCore(BridgeConfig(robot_id="arm", error_reports_per_s=10))
    answers = 0
    for i in range(10_000):  # 10k garbage messages in 1 s
        answers += len(core.feed("liveloop/arm/state", b"junk", i * 100_000))
    assert 10 <= answers <= 21  # a burst of 10, then 10 per second
    assert core.stats.malformed == 10_000
    assert core.stats.errors_suppressed == 10_000 - answers


def test_status_and_remote_errors_delivered_own_echo_ignored() -> None:
    core = AgentCore(BridgeConfig(robot_id="arm"))
    topic, payload = ROBOT.encode(RobotStatus(robot="arm", seq=0, t_ns=1, mode=RobotMode.STOPPED, reason="watchdog"))
    (st,) = core.feed(topic, payload, 2)
    assert isinstance(st, StatusIn) and st.status.reason == "watchdog"
    topic, payload = ROBOT.encode(ErrorReport(robot="arm", t_ns=1, source=Side.ROBOT, topic="t", message="bad"))
    (err,) = core.feed(topic, payload, 2)
    assert isinstance(err, RemoteError)
    topic, payload = ROBOT.encode(ErrorReport(robot="arm", t_ns=1, source=Side.AGENT, topic="t", message="bad"))
    assert core.feed(topic, payload, 2) == []


def test_token_bucket() -> None:
    b = TokenBucket(2.0)
    assert [b.take(0), b.take(0), b.take(0)] == [True, True, False]
    assert b.take(500 * MS)  # refilled one token in half a second
    assert not b.take(500 * MS)


def test_config_validated() -> None:
    with pytest.raises(ValueError, match="action_qos must be 0, 1 or 2"):
        BridgeConfig(action_qos=3)
