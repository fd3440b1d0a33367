"""The liveloop robot protocol over MQTT: topics, versioned JSON schema, a sans-I/O codec.

Topics, one robot per `robot_id` (see PROTOCOL.md for the full description)::

    liveloop/<robot_id>/state    robot → agent   RobotState   the robot's observation, stamped on the robot's clock
    liveloop/<robot_id>/action   agent → robot   ActionChunk  actions, each with its target time, plus a sequence number
    liveloop/<robot_id>/status   robot → agent   RobotStatus  mode changes (running, stopped by the watchdog …)
    liveloop/<robot_id>/error    either side     ErrorReport  a malformed payload received, naming the field at fault
    liveloop/<robot_id>/target   agent → robot   Target       simulated robots only: where the world's target is

Every payload is a JSON object with ``"v": 1`` (`SCHEMA_VERSION`). The codec is
pure: bytes in, a typed message (or a `ProtocolError` naming the field) out; a
message in, ``(topic, bytes)`` out. Sockets live in `bridge.py` and `sim.py`.

Errors::

    LiveloopError
    └── ProtocolError      a payload that cannot be accepted; `.field` is a JSON path ("$.actions[2].t_ns")
                           or None when the payload as a whole is at fault (too big, not JSON, wrong version)
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from liveloop.graph.errors import LiveloopError

SCHEMA_VERSION = 1
TOPIC_PREFIX = "liveloop"
MAX_PAYLOAD_BYTES = 64 * 1024  # default limit; an action chunk of 64 actions × 16 floats is ≈ 12 KiB
MAX_ACTIONS = 256  # actions per chunk
MAX_DIM = 64  # floats per action / observation vector
ROBOT_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")  # no MQTT wildcards (+ #) or separators (/)

Floats = Annotated[list[float], msgspec.Meta(max_length=MAX_DIM)]
Seq = Annotated[int, msgspec.Meta(ge=0)]
RobotId = Annotated[str, msgspec.Meta(pattern=ROBOT_ID_RE.pattern)]
Text = Annotated[str, msgspec.Meta(max_length=1000)]


class ProtocolError(LiveloopError):
    """A payload that cannot be accepted. `field` names the JSON path at fault, or None."""

    def __init__(self, topic: str, reason: str, field: str | None = None, payload_bytes: int = 0) -> None:
        where = f" at `{field}`" if field else ""
        super().__init__(f"bad payload on {topic!r}{where}: {reason}")
        self.topic = topic
        self.reason = reason
        self.field = field
        self.payload_bytes = payload_bytes


class MessageKind(enum.Enum):
    STATE = "state"
    ACTION = "action"
    STATUS = "status"
    ERROR = "error"
    TARGET = "target"


class RobotMode(enum.Enum):
    IDLE = "idle"  # connected, no action received yet: holding still
    RUNNING = "running"  # applying fresh actions
    STOPPED = "stopped"  # the watchdog fired: zero velocity, gripper held, until a fresh action arrives


class Side(enum.Enum):
    ROBOT = "robot"
    AGENT = "agent"


class RobotState(msgspec.Struct, frozen=True, kw_only=True):
    """Robot → agent, once per control tick.

    `t_ns` is the robot's own monotonic clock when the observation was taken; the
    agent maps it onto its graph clock with `clocksync.OffsetEstimator`.
    """

    v: int = SCHEMA_VERSION
    robot: RobotId
    seq: Seq
    t_ns: int
    obs: Floats
    mode: RobotMode = RobotMode.IDLE
    last_action_seq: Annotated[int, msgspec.Meta(ge=-1)] = -1
    target: Floats = []  # where the robot believes its target is (simulated robots)
    info: dict[str, float] = {}


class Action(msgspec.Struct, frozen=True):
    """One command `u` due at `t_ns` on the robot's clock."""

    t_ns: int
    u: Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_DIM)]


class ActionChunk(msgspec.Struct, frozen=True, kw_only=True):
    """Agent → robot: a chunk of timed actions. `seq` strictly increases within an agent's `session`
    (a random id per agent start, so a restarted agent is not mistaken for a replay).

    `state_seq` names the state this chunk answers (-1: none), so either side can
    measure state → action latency. Target times are on the robot's clock and
    strictly increasing; the robot interpolates between them and never replays an
    action whose time has passed.
    """

    v: int = SCHEMA_VERSION
    robot: RobotId
    session: Annotated[str, msgspec.Meta(max_length=64)] = ""
    seq: Seq
    state_seq: Annotated[int, msgspec.Meta(ge=-1)] = -1
    actions: Annotated[list[Action], msgspec.Meta(min_length=1, max_length=MAX_ACTIONS)]


class RobotStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Robot → agent: the robot's mode and why it changed (sent on change and once a second)."""

    v: int = SCHEMA_VERSION
    robot: RobotId
    seq: Seq
    t_ns: int
    mode: RobotMode
    reason: Text = ""
    last_action_seq: Annotated[int, msgspec.Meta(ge=-1)] = -1
    watchdog_stops: Seq = 0
    stale_actions: Seq = 0  # chunks refused because they were old or out of order
    loop: dict[str, float] = {}  # loop timing: rate_hz, jitter_ms_p50, jitter_ms_p99, misses …


class ErrorReport(msgspec.Struct, frozen=True, kw_only=True):
    """Either side: a payload it received and refused, naming the field at fault."""

    v: int = SCHEMA_VERSION
    robot: RobotId
    t_ns: int
    source: Side
    topic: Text
    field: Text | None = None
    message: Text
    payload_bytes: Seq = 0


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """Agent → simulated robot: where the world's target is (position, velocity), or ``free``: let it go.

    ``free`` (added in schema 1 as an optional field: older agents never send it) hands
    the target back to the simulator's own motion from where it is; ``position`` is then ignored.
    """

    v: int = SCHEMA_VERSION
    robot: RobotId
    seq: Seq
    position: Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_DIM)]
    velocity: Floats = []
    free: bool = False


Message = RobotState | ActionChunk | RobotStatus | ErrorReport | Target
KIND_OF: dict[type, MessageKind] = {
    RobotState: MessageKind.STATE,
    ActionChunk: MessageKind.ACTION,
    RobotStatus: MessageKind.STATUS,
    ErrorReport: MessageKind.ERROR,
    Target: MessageKind.TARGET,
}
TYPE_OF: dict[MessageKind, type] = {kind: typ for typ, kind in KIND_OF.items()}


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of one robot."""

    robot_id: str
    prefix: str = TOPIC_PREFIX

    def __post_init__(self) -> None:
        if not ROBOT_ID_RE.match(self.robot_id):
            raise ValueError(f"robot_id must match {ROBOT_ID_RE.pattern} (no '/', '+', '#'), got {self.robot_id!r}")
        if not self.prefix or any(c in self.prefix for c in "+#") or self.prefix.endswith("/"):
            raise ValueError(f"topic prefix must be non-empty without '+', '#' or a trailing '/', got {self.prefix!r}")

    def topic(self, kind: MessageKind) -> str:
        return f"{self.prefix}/{self.robot_id}/{kind.value}"

    @property
    def state(self) -> str:
        return self.topic(MessageKind.STATE)

    @property
    def action(self) -> str:
        return self.topic(MessageKind.ACTION)

    @property
    def status(self) -> str:
        return self.topic(MessageKind.STATUS)

    @property
    def error(self) -> str:
        return self.topic(MessageKind.ERROR)

    @property
    def target(self) -> str:
        return self.topic(MessageKind.TARGET)

    def kind_of(self, topic: str) -> MessageKind:
        """The kind of a topic of this robot; ProtocolError for any other topic."""
        head, sep, last = topic.rpartition("/")
        if not sep or head != f"{self.prefix}/{self.robot_id}":
            raise ProtocolError(
                topic, f"not a topic of robot {self.robot_id!r} (expected {self.prefix}/{self.robot_id}/…)"
            )
        try:
            return MessageKind(last)
        except ValueError:
            kinds = ", ".join(k.value for k in MessageKind)
            raise ProtocolError(topic, f"unknown message kind {last!r} (one of {kinds})") from None


def _check_finite(topic: str, values: list[float], path: str) -> None:
    for i, x in enumerate(values):
        if not math.isfinite(x):
            raise ProtocolError(topic, f"must be finite, got {x}", f"{path}[{i}]")


class Codec:
    """Sans-I/O: `decode(topic, payload) -> message` and `encode(message) -> (topic, payload)`.

    Every refusal is a `ProtocolError` whose `field` is the JSON path at fault.
    Payloads larger than `max_payload_bytes` are refused before they are parsed.
    """

    def __init__(
        self, robot_id: str, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES, prefix: str = TOPIC_PREFIX
    ) -> None:
        if max_payload_bytes < 256:
            raise ValueError(f"max_payload_bytes must be >= 256, got {max_payload_bytes}")
        self.topics = Topics(robot_id, prefix)
        self.max_payload_bytes = max_payload_bytes
        self._decoders: dict[MessageKind, msgspec.json.Decoder[Any]] = {
            kind: msgspec.json.Decoder(typ) for kind, typ in TYPE_OF.items()
        }
        self._encoder = msgspec.json.Encoder()

    @property
    def robot_id(self) -> str:
        return self.topics.robot_id

    def decode(self, topic: str, payload: bytes | bytearray | memoryview) -> Message:
        kind = self.topics.kind_of(topic)
        n = len(payload)
        if n > self.max_payload_bytes:
            raise ProtocolError(topic, f"payload of {n} bytes exceeds the limit of {self.max_payload_bytes}", None, n)
        try:
            msg = self._decoders[kind].decode(payload)
        except msgspec.ValidationError as exc:
            text = str(exc)
            reason, _, path = text.partition(" - at `")
            raise ProtocolError(topic, reason, path.rstrip("`") or None, n) from exc
        except msgspec.DecodeError as exc:
            raise ProtocolError(topic, f"not JSON: {exc}", None, n) from exc
        self._check(topic, msg, n)
        return msg

    def _check(self, topic: str, msg: Message, n: int) -> None:
        if msg.v != SCHEMA_VERSION:
            raise ProtocolError(
                topic, f"unsupported schema version {msg.v} (this side speaks {SCHEMA_VERSION})", "$.v", n
            )
        if msg.robot != self.robot_id:
            raise ProtocolError(
                topic, f"robot {msg.robot!r} does not match the topic's {self.robot_id!r}", "$.robot", n
            )
        if isinstance(msg, ActionChunk):
            dim = len(msg.actions[0].u)
            prev_t: int | None = None
            for i, a in enumerate(msg.actions):
                if len(a.u) != dim:
                    raise ProtocolError(
                        topic, f"must have {dim} values like actions[0], got {len(a.u)}", f"$.actions[{i}].u", n
                    )
                _check_finite(topic, a.u, f"$.actions[{i}].u")
                if prev_t is not None and a.t_ns <= prev_t:
                    raise ProtocolError(
                        topic, f"target times must increase, got {a.t_ns} after {prev_t}", f"$.actions[{i}].t_ns", n
                    )
                prev_t = a.t_ns
        elif isinstance(msg, RobotState):
            _check_finite(topic, msg.obs, "$.obs")
        elif isinstance(msg, Target):
            _check_finite(topic, msg.position, "$.position")
            _check_finite(topic, msg.velocity, "$.velocity")

    def encode(self, msg: Message) -> tuple[str, bytes]:
        kind = KIND_OF[type(msg)]
        if msg.robot != self.robot_id:
            raise ValueError(f"message is for robot {msg.robot!r}, this codec speaks for {self.robot_id!r}")
        payload = self._encoder.encode(msg)
        if len(payload) > self.max_payload_bytes:
            raise ValueError(
                f"{kind.value} message of {len(payload)} bytes exceeds the limit of {self.max_payload_bytes}"
            )
        return self.topics.topic(kind), payload

    def error_report(self, exc: ProtocolError, source: Side, now_ns: int) -> tuple[str, bytes]:
        """The `…/error` message answering a refused payload."""
        report = ErrorReport(
            robot=self.robot_id,
            t_ns=now_ns,
            source=source,
            topic=exc.topic[:1000],
            field=exc.field,
            message=str(exc)[:1000],
            payload_bytes=exc.payload_bytes,
        )
        return self.encode(report)
