"""The codec: round trips, and every malformed payload refused with the field named."""

from __future__ import annotations

import json

import pytest

from liveloop.robots.protocol import (
    SCHEMA_VERSION,
    Action,
    ActionChunk,
    Codec,
    ErrorReport,
    MessageKind,
    ProtocolError,
    RobotMode,
    RobotState,
    RobotStatus,
    Side,
    Target,
    Topics,
)

CODEC = Codec("arm1", max_payload_bytes=4096)
T = CODEC.topics


def chunk_dict(**over: object) -> dict:
    d = {
        "v": SCHEMA_VERSION,
        "robot": "arm1",
        "seq": 3,
        "state_seq": 7,
        "actions": [{"t_ns": 100, "u": [0.1, 0.2, -1.0]}, {"t_ns": 200, "u": [0.2, 0.3, 1.0]}],
    }
    d.update(over)
    return d


def raw(d: object) -> bytes:
    return json.dumps(d).encode()


def test_topics_and_kinds() -> None:
    assert T.state == "liveloop/arm1/state"
    assert T.action == "liveloop/arm1/action"
    assert T.kind_of("liveloop/arm1/error") is MessageKind.ERROR
    with pytest.raises(ProtocolError, match="not a topic of robot 'arm1'"):
        T.kind_of("liveloop/arm2/state")
    with pytest.raises(ProtocolError, match="unknown message kind 'cmd'"):
        T.kind_of("liveloop/arm1/cmd")
    for bad in ("a/b", "", "x+", "#", "a b"):
        with pytest.raises(ValueError, match="robot_id must match"):
            Topics(bad)


@pytest.mark.parametrize(
    "msg",
    [
        RobotState(robot="arm1", seq=0, t_ns=123, obs=[0.0, 1.5], mode=RobotMode.RUNNING, info={"episode": 1.0}),
        ActionChunk(robot="arm1", seq=1, state_seq=0, actions=[Action(5, [1.0, 2.0, 1.0])]),
        RobotStatus(robot="arm1", seq=2, t_ns=9, mode=RobotMode.STOPPED, reason="watchdog", loop={"misses": 0.0}),
        ErrorReport(robot="arm1", t_ns=1, source=Side.ROBOT, topic="liveloop/arm1/action", field="$.seq", message="x"),
        Target(robot="arm1", seq=0, position=[0.1, 0.5], velocity=[0.0, 0.1]),
    ],
)
def test_round_trip(msg: object) -> None:
    topic, payload = CODEC.encode(msg)  # type: ignore[arg-type]
    assert topic.startswith("liveloop/arm1/")
    assert json.loads(payload)["v"] == SCHEMA_VERSION
    assert CODEC.decode(topic, payload) == msg


MALFORMED = [
    # (payload, field expected, words in the reason)
    (b"{not json", None, "not JSON"),
    (b"\xff\xfe", None, "not JSON"),
    (b"[1, 2]", None, "Expected `object`"),
    (raw(chunk_dict(seq="three")), "$.seq", "Expected `int`, got `str`"),
    (raw(chunk_dict(seq=-1)), "$.seq", ">= 0"),
    (raw({k: v for k, v in chunk_dict().items() if k != "actions"}), None, "missing required field `actions`"),
    (raw(chunk_dict(actions=[])), "$.actions", "length >= 1"),
    (raw(chunk_dict(actions=[{"t_ns": 1.5, "u": [1.0]}])), "$.actions[0].t_ns", "Expected `int`"),
    (raw(chunk_dict(actions=[{"t_ns": 1, "u": []}])), "$.actions[0].u", "length >= 1"),
    (raw(chunk_dict(actions=[{"t_ns": 1, "u": [1.0, "x"]}])), "$.actions[0].u[1]", "Expected `float`"),
    (raw(chunk_dict(actions=[{"t_ns": 2, "u": [1.0]}, {"t_ns": 2, "u": [1.0]}])), "$.actions[1].t_ns", "must increase"),
    (raw(chunk_dict(actions=[{"t_ns": 1, "u": [1.0]}, {"t_ns": 2, "u": [1.0, 2.0]}])), "$.actions[1].u", "must have 1"),
    (raw(chunk_dict(v=2)), "$.v", "unsupported schema version 2"),
    (raw(chunk_dict(robot="arm2")), "$.robot", "does not match"),
    (raw(chunk_dict(robot="a/b")), "$.robot", "matching regex"),
    (b'{"v":1,"robot":"arm1","seq":1,"actions":[{"t_ns":1,"u":[1e999]}]}', "$.actions[0].u[0]", "out of range"),
]


@pytest.mark.parametrize(("payload", "field", "words"), MALFORMED)
def test_malformed_payloads_name_the_field(payload: bytes, field: str | None, words: str) -> None:
    with pytest.raises(ProtocolError) as info:
        CODEC.decode(T.action, payload)
    err = info.value
    assert err.field == field
    assert words in err.reason
    assert err.topic == T.action
    assert err.payload_bytes == len(payload)


def test_oversized_payload_refused_before_parsing() -> None:
    big = raw(chunk_dict(actions=[{"t_ns": i, "u": [0.0] * 60} for i in range(40)]))
    assert len(big) > CODEC.max_payload_bytes
    with pytest.raises(ProtocolError, match=r"payload of \d+ bytes exceeds the limit of 4096") as info:
        CODEC.decode(T.action, big)
    assert info.value.field is None
    # junk that is too big is refused for its size, not parsed
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        CODEC.decode(T.state, b"\x00" * 5000)


def test_encode_refuses_other_robot_and_oversize() -> None:
    with pytest.raises(ValueError, match="for robot 'arm2'"):
        CODEC.encode(Target(robot="arm2", seq=0, position=[0.0, 0.0]))
    huge = ActionChunk(robot="arm1", seq=0, actions=[Action(i, [0.123456789] * 60) for i in range(60)])
    with pytest.raises(ValueError, match="exceeds the limit"):
        CODEC.encode(huge)


def test_error_report_names_field() -> None:
    try:
        CODEC.decode(T.action, raw(chunk_dict(seq="x")))
    except ProtocolError as exc:
        topic, payload = CODEC.error_report(exc, Side.ROBOT, now_ns=42)
    assert topic == T.error
    report = CODEC.decode(topic, payload)
    assert isinstance(report, ErrorReport)
    assert report.field == "$.seq"
    assert report.source is Side.ROBOT
    assert "liveloop/arm1/action" in report.message


def test_codec_config_validated() -> None:
    with pytest.raises(ValueError, match="max_payload_bytes must be >= 256"):
        Codec("arm1", max_payload_bytes=10)
