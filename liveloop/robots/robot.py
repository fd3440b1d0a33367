"""The simulated robot's core (pure, no I/O): messages in, a tick, messages out.

It wraps the policy package's reach-and-grasp simulator
(`liveloop.policy.tasks.reach_grasp.ReachGrasp`) and adds what a real robot
controller has: the action schedule, the watchdog, the robot's own clock and the
protocol. The process around it (`sim.py`) only paces ticks and moves bytes::

    on_message(topic, payload, now_ns) -> [Outgoing]   an action chunk or a target arrives
    tick(now_ns) -> [Outgoing]                          once per period: watchdog, command, step, publish state
    watchdog_deadline_ns -> int | None                  when the watchdog will stop the robot unless an action comes
    expire(now_ns) -> [Outgoing]                        at that deadline, between ticks: the stop, on time

The watchdog stops the robot at its deadline, not at the next tick: `expire`
moves the simulation up to that instant under the command in force, then the
robot holds (a stop rounded up to the tick grid would be up to one period late).

Each tick commands, in this order of precedence:

    STOPPED / IDLE      hold: set-point = where the robot is now (zero velocity), gripper as it was
    RUNNING, chunk due  the action due now (continuous dims interpolated, the gripper held between actions)
    RUNNING, used up    hold, as above, until the watchdog stops the robot or a fresh chunk arrives

An episode that ends (success, collision, timeout) is reported on `…/status`
and the next one starts at once with the next seed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveloop.graph.clock import NS_PER_MS, NS_PER_S
from liveloop.policy.tasks.reach_grasp import ACTION_DIM, GRIPPER_INDEX, ReachGrasp, ReachGraspConfig
from liveloop.robots.bridge import TokenBucket
from liveloop.robots.link import Outgoing
from liveloop.robots.protocol import (
    MAX_PAYLOAD_BYTES,
    ActionChunk,
    Codec,
    MessageKind,
    ProtocolError,
    RobotMode,
    RobotState,
    RobotStatus,
    Side,
    Target,
)
from liveloop.robots.schedule import Acceptance, ActionSchedule, Transition, Watchdog

QOS_STATE = 0  # state is superseded every tick: at most once
QOS_STATUS = 1  # mode changes must arrive
QOS_ERROR = 0


@dataclass(frozen=True, slots=True)
class SimConfig:
    robot_id: str = "sim"
    rate_hz: float = 50.0
    watchdog_ms: float = 100.0
    seed: int = 0
    episode_s: float = 30.0  # the task's time limit per episode (the app runs long episodes)
    status_every_s: float = 1.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    error_reports_per_s: float = 10.0  # answers on …/error (token bucket, burst = one second's worth)
    latency_history: int = 60_000  # state → action samples kept

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 1000.0:
            raise ValueError(f"rate_hz must be in [1, 1000], got {self.rate_hz}")
        if not 1.0 <= self.watchdog_ms <= 10_000.0:
            raise ValueError(f"watchdog_ms must be in [1, 10000], got {self.watchdog_ms}")
        if self.episode_s <= 0:
            raise ValueError(f"episode_s must be > 0, got {self.episode_s}")
        if self.status_every_s <= 0:
            raise ValueError(f"status_every_s must be > 0, got {self.status_every_s}")

    @property
    def period_ns(self) -> int:
        return round(NS_PER_S / self.rate_hz)


class SimRobotCore:
    """Reach-and-grasp behind the liveloop protocol; see the module docstring."""

    def __init__(self, config: SimConfig | None = None, task: ReachGrasp | None = None) -> None:
        self.config = cfg = config or SimConfig()
        self.task = task or ReachGrasp(ReachGraspConfig(max_time_s=cfg.episode_s))
        self.codec = Codec(cfg.robot_id, max_payload_bytes=cfg.max_payload_bytes)
        self.schedule = ActionSchedule(ACTION_DIM, hold_dims=(GRIPPER_INDEX,))
        self.watchdog = Watchdog(round(cfg.watchdog_ms * NS_PER_MS))
        self.episode = 0
        self.obs = self.task.reset(cfg.seed)
        self.gripper_cmd = -1.0  # open
        self.outcomes: dict[str, int] = {}
        self.errors_reported = 0
        self.malformed = 0
        self._error_bucket = TokenBucket(cfg.error_reports_per_s)
        self.targets = 0
        self._state_seq = 0
        self._status_seq = 0
        self._last_tick_ns: int | None = None  # when the task was last stepped (a tick or a watchdog stop)
        self._next_status_ns = 0
        self._state_sent: deque[tuple[int, int]] = deque(maxlen=512)  # (state seq, t_ns published)
        self._s2a = np.zeros(cfg.latency_history, dtype=np.int64)  # state published → its action received (ns)
        self._n_s2a = 0
        self.transitions: deque[Transition] = deque(maxlen=64)
        self.accepted: deque[tuple[int, int, int]] = deque(maxlen=256)  # (chunk seq, state seq, received_ns)
        self._info: dict[str, Any] = {}
        self.loop_stats: Callable[[], dict[str, float]] | None = None  # the pacer's, set by the process

    @property
    def states_published(self) -> int:
        return self._state_seq

    @property
    def mode(self) -> RobotMode:
        return self.watchdog.mode

    # -- messages in -----------------------------------------------------
    def on_message(self, topic: str, payload: bytes, now_ns: int) -> list[Outgoing]:
        try:
            msg = self.codec.decode(topic, payload)
        except ProtocolError as exc:
            return self._error(exc, now_ns)
        if isinstance(msg, ActionChunk):
            return self._on_chunk(topic, msg, now_ns, len(payload))
        if isinstance(msg, Target):
            return self._on_target(topic, msg, now_ns, len(payload))
        return []  # our own state/status/error echoed back: not for us

    def _on_chunk(self, topic: str, chunk: ActionChunk, now_ns: int, n: int) -> list[Outgoing]:
        verdict = self.schedule.offer(chunk, now_ns)
        if verdict is Acceptance.WRONG_DIM:
            exc = ProtocolError(
                topic,
                f"must have {ACTION_DIM} values [x, y, gripper], got {len(chunk.actions[0].u)}",
                "$.actions[0].u",
                n,
            )
            return self._error(exc, now_ns)
        if verdict is not Acceptance.ACCEPTED:
            return []  # stale: counted in the schedule, reported in the status
        state_ns = self._state_published_ns(chunk.state_seq)
        if state_ns is not None:
            self._s2a[self._n_s2a % self._s2a.size] = now_ns - state_ns
            self._n_s2a += 1
        self.accepted.append((chunk.seq, chunk.state_seq, now_ns))
        tr = self.watchdog.fresh(now_ns, state_ns)  # as fresh as the state it answers
        return [self._status(now_ns, tr)] if tr else []

    def _on_target(self, topic: str, target: Target, now_ns: int, n: int) -> list[Outgoing]:
        if len(target.position) != 2 or len(target.velocity) not in (0, 2):
            exc = ProtocolError(topic, "position must be [x, y] and velocity [] or [vx, vy]", "$.position", n)
            return self._error(exc, now_ns)
        if target.free:
            self.task.release_target()
        else:
            self.task.set_target(target.position, target.velocity or (0.0, 0.0))
        self.targets += 1
        return []

    def _state_published_ns(self, state_seq: int) -> int | None:
        """When this robot published state `state_seq` (None: not one of the recent ones, or none named)."""
        if state_seq < 0:
            return None
        for seq, t_ns in reversed(self._state_sent):
            if seq == state_seq:
                return t_ns
            if seq < state_seq:
                return None
        return None

    # -- the tick ----------------------------------------------------------
    def tick(self, now_ns: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        tr = self.watchdog.check(now_ns)
        if tr is not None:
            self.schedule.clear()  # whatever was left of the chunk is stale now
            out.append(self._status(now_ns, tr))
        out.extend(self._advance(self._command_due(now_ns), now_ns))
        out.append(self._state(now_ns))
        if now_ns >= self._next_status_ns:
            out.append(self._status(now_ns, None))
        return out

    @property
    def watchdog_deadline_ns(self) -> int | None:
        return self.watchdog.deadline_ns

    def expire(self, now_ns: int) -> list[Outgoing]:
        """Between ticks, at the watchdog's deadline: stop now (no state is published until the next tick)."""
        deadline = self.watchdog.deadline_ns
        if deadline is None or now_ns < deadline:
            return []
        u = self._command_due(now_ns)  # in force up to the stop (a tick's convention: the command due at its end)
        tr = self.watchdog.check(now_ns)
        assert tr is not None  # RUNNING and past the deadline
        self.schedule.clear()  # whatever was left of the chunk is stale now
        out = [self._status(now_ns, tr)]
        if self._last_tick_ns is not None and now_ns > self._last_tick_ns:
            out.extend(self._advance(u, now_ns))  # the motion up to the stop; from here on the robot holds
        return out

    def _command_due(self, now_ns: int) -> np.ndarray:
        u = self.schedule.due(now_ns) if self.watchdog.mode is RobotMode.RUNNING else None
        if u is None:
            return self.hold_action()
        self.gripper_cmd = float(u[GRIPPER_INDEX])
        return u

    def _advance(self, u: np.ndarray, now_ns: int) -> list[Outgoing]:
        """Step the task from the last step to `now_ns` under command `u`; a finished episode restarts."""
        cfg = self.config
        dt_s = cfg.period_ns / NS_PER_S if self._last_tick_ns is None else (now_ns - self._last_tick_ns) / NS_PER_S
        dt_s = min(max(dt_s, 1e-4), 0.25)  # a stalled process must not teleport the robot
        self._last_tick_ns = now_ns
        result = self.task.step(u, dt_s)
        self.obs = result.obs
        self._info = result.info
        if not result.done:
            return []
        outcome = str(result.info.get("outcome", "done"))
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.episode += 1
        self.obs = self.task.reset(cfg.seed + self.episode)
        self.gripper_cmd = -1.0
        return [self._status(now_ns, None, f"episode {self.episode - 1} ended: {outcome}")]

    def hold_action(self) -> np.ndarray:
        """Zero velocity (set-point = where the robot is) with the gripper as last commanded."""
        return np.array([self.obs[0], self.obs[1], self.gripper_cmd])

    # -- messages out --------------------------------------------------------
    def _state(self, now_ns: int) -> Outgoing:
        seq = self._state_seq
        self._state_seq += 1
        msg = RobotState(
            robot=self.config.robot_id,
            seq=seq,
            t_ns=now_ns,
            obs=self.obs.tolist(),
            mode=self.watchdog.mode,
            last_action_seq=self.schedule.last_seq,
            target=self.task.target.tolist(),
            info={
                "episode": float(self.episode),
                "time_s": float(self._info.get("time_s", 0.0)),
                "distance_m": float(self._info.get("distance_m", 0.0)),
                "held": float(bool(self._info.get("held", False))),
            },
        )
        self._state_sent.append((seq, now_ns))
        topic, payload = self.codec.encode(msg)
        return Outgoing(topic, payload, QOS_STATE)

    def _status(self, now_ns: int, tr: Transition | None, reason: str = "") -> Outgoing:
        if tr is not None:
            self.transitions.append(tr)
            reason = tr.reason
        self._next_status_ns = now_ns + round(self.config.status_every_s * NS_PER_S)
        seq = self._status_seq
        self._status_seq += 1
        msg = RobotStatus(
            robot=self.config.robot_id,
            seq=seq,
            t_ns=now_ns,
            mode=self.watchdog.mode,
            reason=reason,
            last_action_seq=self.schedule.last_seq,
            watchdog_stops=self.watchdog.stops,
            stale_actions=self.schedule.stale_count,
            loop={**(self.loop_stats() if self.loop_stats else {}), **self.latency_stats()},
        )
        topic, payload = self.codec.encode(msg)
        return Outgoing(topic, payload, QOS_STATUS)

    def _error(self, exc: ProtocolError, now_ns: int) -> list[Outgoing]:
        self.malformed += 1
        if not self._error_bucket.take(now_ns):
            return []  # a flood of garbage does not make the robot flood back
        self.errors_reported += 1
        topic, payload = self.codec.error_report(exc, Side.ROBOT, now_ns)
        return [Outgoing(topic, payload, QOS_ERROR)]

    def latency_ms(self) -> np.ndarray:
        n = min(self._n_s2a, self._s2a.size)
        return self._s2a[:n] / NS_PER_MS

    def latency_stats(self) -> dict[str, float]:
        lat = self.latency_ms()
        if not lat.size:
            return {"state_to_action_n": 0.0}
        p50, p99 = np.percentile(lat, [50, 99]).tolist()
        return {"state_to_action_n": float(lat.size), "state_to_action_ms_p50": p50, "state_to_action_ms_p99": p99}

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        t = self.codec.topics
        return ((t.action, 1), (t.topic(MessageKind.TARGET), 1))
