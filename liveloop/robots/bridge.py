"""The agent's side of the control loop: robot state in, action chunks out, over MQTT.

`AgentCore` is the pure part (no awaits, no sockets)::

    feed(topic, payload, now_ns) -> [StateIn | StatusIn | RemoteError | Outgoing]
    actions(u, times_ns, state_seq, now_ns) -> Outgoing          u: (N, action_dim), times on the graph clock
    target(position, velocity) -> Outgoing

It decodes with the protocol codec, maps every robot timestamp onto the graph
clock (`clocksync.OffsetEstimator`), maps action target times back onto the
robot's clock, numbers chunks, and answers a malformed payload with an
`ErrorReport` on `…/error` naming the field (rate-limited: a flood of garbage
cannot make it flood back). `MqttBridge` is the thin asyncio adapter around it
and an `MqttLink`; `MqttBridgeNode` puts the bridge into a graph.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from liveloop.graph.clock import NS_PER_S, Clock, MonotonicClock
from liveloop.robots.clocksync import OffsetConfig, OffsetEstimator
from liveloop.robots.link import BrokerAddress, LinkConfig, LinkState, MqttLink, Outgoing
from liveloop.robots.protocol import (
    MAX_PAYLOAD_BYTES,
    Action,
    ActionChunk,
    Codec,
    ErrorReport,
    ProtocolError,
    RobotState,
    RobotStatus,
    Side,
    Target,
)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    robot_id: str = "sim"
    action_qos: int = 0  # 0: at most once (a late action is worse than none); 1: at least once
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    error_reports_per_s: float = 10.0  # answers on …/error, token bucket (burst = one second's worth)
    offset: OffsetConfig = field(default_factory=OffsetConfig)
    status_history: int = 64

    def __post_init__(self) -> None:
        if self.action_qos not in (0, 1, 2):
            raise ValueError(f"action_qos must be 0, 1 or 2, got {self.action_qos}")
        if self.error_reports_per_s <= 0:
            raise ValueError(f"error_reports_per_s must be > 0, got {self.error_reports_per_s}")
        if self.status_history < 1:
            raise ValueError(f"status_history must be >= 1, got {self.status_history}")


class StateIn(NamedTuple):
    state: RobotState
    origin_ns: int  # when the robot measured it, on the graph clock
    received_ns: int  # when the bridge took it off the wire (graph clock)


class StatusIn(NamedTuple):
    status: RobotStatus
    received_ns: int


class RemoteError(NamedTuple):
    """The robot (or another agent) refused something and said why."""

    report: ErrorReport
    received_ns: int


class TokenBucket:
    """Pure rate limiter: `take(now_ns)` is True at most `rate` times a second (burst `rate`)."""

    def __init__(self, rate_per_s: float) -> None:
        self.rate = rate_per_s
        self.tokens = rate_per_s
        self._t: int | None = None

    def take(self, now_ns: int) -> bool:
        if self._t is not None:
            self.tokens = min(self.rate, self.tokens + (now_ns - self._t) / NS_PER_S * self.rate)
        self._t = now_ns
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class AgentStats:
    states: int = 0
    statuses: int = 0
    remote_errors: int = 0
    malformed: int = 0
    errors_answered: int = 0
    errors_suppressed: int = 0
    chunks: int = 0


class AgentCore:
    """Decode, clock-map, number and answer; see the module docstring."""

    def __init__(self, config: BridgeConfig | None = None) -> None:
        self.config = cfg = config or BridgeConfig()
        self.codec = Codec(cfg.robot_id, max_payload_bytes=cfg.max_payload_bytes)
        self.offset = OffsetEstimator(cfg.offset)
        self.stats = AgentStats()
        self.last_fault: ProtocolError | None = None
        self._bucket = TokenBucket(cfg.error_reports_per_s)
        self.session = secrets.token_hex(4)  # a restarted agent starts a new sequence
        self._seq = 0
        self._target_seq = 0

    @property
    def topics(self) -> tuple[tuple[str, int], ...]:
        t = self.codec.topics
        return ((t.state, 0), (t.status, 1), (t.error, 0))

    def feed(self, topic: str, payload: bytes, now_ns: int) -> list[StateIn | StatusIn | RemoteError | Outgoing]:
        try:
            msg = self.codec.decode(topic, payload)
        except ProtocolError as exc:
            return self._refuse(exc, now_ns)
        if isinstance(msg, RobotState):
            self.stats.states += 1
            self.offset.feed(msg.t_ns, now_ns)
            return [StateIn(msg, self.offset.to_local(msg.t_ns), now_ns)]
        if isinstance(msg, RobotStatus):
            self.stats.statuses += 1
            return [StatusIn(msg, now_ns)]
        if isinstance(msg, ErrorReport):
            if msg.source is Side.AGENT:
                return []  # our own answer, echoed by the broker
            self.stats.remote_errors += 1
            return [RemoteError(msg, now_ns)]
        return []  # action/target: what agents publish, not for us

    def _refuse(self, exc: ProtocolError, now_ns: int) -> list[StateIn | StatusIn | RemoteError | Outgoing]:
        self.stats.malformed += 1
        self.last_fault = exc
        if not self._bucket.take(now_ns):
            self.stats.errors_suppressed += 1
            return []
        self.stats.errors_answered += 1
        topic, payload = self.codec.error_report(exc, Side.AGENT, now_ns)
        return [Outgoing(topic, payload, 0)]

    def actions(self, u: np.ndarray, times_ns: np.ndarray, state_seq: int = -1) -> Outgoing:
        """An action chunk: `u` (N, action_dim), `times_ns` (N,) target times on the graph clock."""
        u = np.asarray(u, dtype=np.float64)
        times = np.asarray(times_ns, dtype=np.int64)
        if u.ndim != 2 or u.shape[0] != times.shape[0] or u.shape[0] < 1:
            raise ValueError(
                f"actions must be (N, action_dim) with N = len(times_ns) >= 1, got {u.shape} and {times.shape}"
            )
        offset = self.offset.offset_ns  # NoEstimate before the first state: nothing can be timed yet
        chunk = ActionChunk(
            robot=self.config.robot_id,
            session=self.session,
            seq=self._seq,
            state_seq=state_seq,
            actions=[Action(int(t - offset), row.tolist()) for t, row in zip(times, u, strict=True)],
        )
        self._seq += 1
        self.stats.chunks += 1
        topic, payload = self.codec.encode(chunk)
        return Outgoing(topic, payload, self.config.action_qos)

    def target(
        self, position: tuple[float, float], velocity: tuple[float, float] = (0.0, 0.0), *, free: bool = False
    ) -> Outgoing:
        """Where the (simulated) world's target is; ``free``: it moves by itself again (position ignored)."""
        msg = Target(
            robot=self.config.robot_id,
            seq=self._target_seq,
            position=list(position),
            velocity=list(velocity),
            free=free,
        )
        self._target_seq += 1
        topic, payload = self.codec.encode(msg)
        return Outgoing(topic, payload, 1)


class MqttBridge:
    """AgentCore on an MqttLink. Run `run()` in a TaskGroup; `await next_state()`, `send_actions(...)`.

    Received states keep only the newest (latest-wins: a controller wants the
    current state, not a backlog); statuses and remote errors keep the last
    `status_history`. Nothing here is unbounded.
    """

    def __init__(self, broker: BrokerAddress, config: BridgeConfig | None = None, clock: Clock | None = None) -> None:
        self.core = AgentCore(config)
        self.clock = clock or MonotonicClock()
        client_id = f"liveloop-agent-{self.core.config.robot_id}-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self.link = MqttLink(broker, LinkConfig(client_id), self.core.topics, self.clock)
        self.statuses: deque[StatusIn] = deque(maxlen=self.core.config.status_history)
        self.remote_errors: deque[RemoteError] = deque(maxlen=self.core.config.status_history)
        self.states_dropped = 0  # states replaced before anyone read them
        self._state: StateIn | None = None
        self._state_ready = asyncio.Event()
        self._status_ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.link.state is LinkState.CONNECTED

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run(), name="bridge.link")
            tg.create_task(self._pump(), name="bridge.pump")

    def close(self) -> None:
        self.link.close()
        self._state_ready.set()

    async def _pump(self) -> None:
        link, core = self.link, self.core
        while link.state is not LinkState.CLOSED:
            await link.wait_incoming()  # close() wakes it too
            msgs = link.drain()
            if not msgs and link.closing:
                await link.wait_closed()
                break
            for msg in msgs:
                for item in core.feed(msg.topic, msg.payload, msg.received_ns):
                    if isinstance(item, StateIn):
                        if self._state is not None:
                            self.states_dropped += 1
                        self._state = item
                        self._state_ready.set()
                    elif isinstance(item, StatusIn):
                        self.statuses.append(item)
                        self._status_ready.set()
                    elif isinstance(item, RemoteError):
                        self.remote_errors.append(item)
                    else:
                        link.publish_nowait(item)

    async def next_state(self) -> StateIn:
        """The newest state not yet taken (waits for one)."""
        while self._state is None:
            self._state_ready.clear()
            if self.link.state is LinkState.CLOSED:
                raise ConnectionError(f"bridge to robot {self.core.config.robot_id!r} is closed")
            await self._state_ready.wait()
        item, self._state = self._state, None
        return item

    def send_actions(self, u: np.ndarray, times_ns: np.ndarray, state_seq: int = -1) -> bool:
        """Publish one chunk; False (counted by the link) when disconnected: never queued for later."""
        if not self.connected:
            self.link.stats.outgoing_drops += 1
            return False
        return self.link.publish_nowait(self.core.actions(u, times_ns, state_seq))

    def send_target(
        self, position: tuple[float, float], velocity: tuple[float, float] = (0.0, 0.0), *, free: bool = False
    ) -> bool:
        return self.link.publish_nowait(self.core.target(position, velocity, free=free))
