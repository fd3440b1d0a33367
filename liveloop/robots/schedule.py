"""The robot side's two safety cores: the action schedule and the watchdog (pure, no I/O).

**ActionSchedule** holds the newest accepted action chunk and answers "which
command is due at time t?"::

    chunk k:     a0 ──── a1 ──── a2 ──── a3            (target times on the robot's clock)
    t:                      ↑  → lerp(a1, a2) for continuous dims, a1 for held dims (the gripper)

* A chunk is refused (and counted) when its `seq` is not newer than the last
  accepted one of the same agent session (out of order, duplicated, replayed
  after a reconnect) or when its last action is already in the past: stale
  actions are never replayed. A new session (a restarted agent) starts its own
  sequence; its chunks must still be fresh.
* A newer chunk replaces the current one at once (the policy re-plans every step).
* Before the first target time the first action is due; after the last one
  nothing is (`due` returns None): a chunk is never extrapolated.

**Watchdog** is the robot's mode machine, fed with every accepted chunk, as
fresh as the state it answers (the capture time of ``state_seq``; its receipt
time when it names none), and checked at every tick and at its own deadline
(``last fresh action + timeout``: the robot's loop wakes for it between ticks)::

    IDLE ──fresh action──► RUNNING ──no fresh action for timeout──► STOPPED
                              ▲                                       │
                              └───────────── fresh action ────────────┘

A stopped robot commands zero velocity and keeps its gripper as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from liveloop.robots.protocol import ActionChunk, RobotMode


class Acceptance(enum.Enum):
    ACCEPTED = "accepted"
    STALE_SEQ = "stale_seq"  # seq not newer than the last accepted chunk
    EXPIRED = "expired"  # every action's target time is already past
    WRONG_DIM = "wrong_dim"  # the actions do not have the robot's action dimension


class ActionSchedule:
    """The newest accepted chunk and the command due at any time; see the module docstring."""

    def __init__(self, action_dim: int, hold_dims: tuple[int, ...] = ()) -> None:
        if action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {action_dim}")
        for d in hold_dims:
            if not 0 <= d < action_dim:
                raise ValueError(f"hold_dims must be in [0, {action_dim}), got {d}")
        self.action_dim = action_dim
        self._lerp = np.ones(action_dim, dtype=bool)
        self._lerp[list(hold_dims)] = False
        self.session = ""
        self.last_seq = -1
        self.state_seq = -1
        self._t: np.ndarray | None = None  # (N,) int64 target times
        self._u: np.ndarray | None = None  # (N, action_dim)
        self.refused: dict[Acceptance, int] = {a: 0 for a in Acceptance if a is not Acceptance.ACCEPTED}

    def offer(self, chunk: ActionChunk, now_ns: int) -> Acceptance:
        verdict = self._judge(chunk, now_ns)
        if verdict is not Acceptance.ACCEPTED:
            self.refused[verdict] += 1
            return verdict
        self.session = chunk.session
        self.last_seq = chunk.seq
        self.state_seq = chunk.state_seq
        self._t = np.fromiter((a.t_ns for a in chunk.actions), dtype=np.int64, count=len(chunk.actions))
        self._u = np.array([a.u for a in chunk.actions], dtype=np.float64)  # (N, action_dim)
        return Acceptance.ACCEPTED

    def _judge(self, chunk: ActionChunk, now_ns: int) -> Acceptance:
        if chunk.session == self.session and chunk.seq <= self.last_seq:
            return Acceptance.STALE_SEQ
        if len(chunk.actions[0].u) != self.action_dim:
            return Acceptance.WRONG_DIM
        if chunk.actions[-1].t_ns < now_ns:
            return Acceptance.EXPIRED
        return Acceptance.ACCEPTED

    @property
    def stale_count(self) -> int:
        return self.refused[Acceptance.STALE_SEQ] + self.refused[Acceptance.EXPIRED]

    def due(self, now_ns: int) -> np.ndarray | None:
        """The command due at `now_ns`, or None when the chunk is used up (or none was accepted)."""
        t, u = self._t, self._u
        if t is None or u is None:
            return None
        if now_ns > t[-1]:
            self._t = self._u = None  # used up: never replayed
            return None
        if now_ns <= t[0]:
            return u[0].copy()
        i = int(np.searchsorted(t, now_ns, side="right")) - 1  # t[i] <= now < t[i+1]
        if i >= len(t) - 1:
            return u[-1].copy()
        w = (now_ns - t[i]) / (t[i + 1] - t[i])
        out = u[i].copy()
        out[self._lerp] = (1.0 - w) * u[i][self._lerp] + w * u[i + 1][self._lerp]
        return out

    def clear(self) -> None:
        """Forget the current chunk (not the sequence number: older chunks stay refused)."""
        self._t = self._u = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A mode change, with the reason to report on `…/status`."""

    before: RobotMode
    after: RobotMode
    at_ns: int
    reason: str


class Watchdog:
    """IDLE → RUNNING → STOPPED ↔ RUNNING on the receipt times of fresh actions."""

    _ALLOWED: ClassVar[frozenset[tuple[RobotMode, RobotMode]]] = frozenset(
        {
            (RobotMode.IDLE, RobotMode.RUNNING),
            (RobotMode.RUNNING, RobotMode.STOPPED),
            (RobotMode.STOPPED, RobotMode.RUNNING),
        }
    )

    def __init__(self, timeout_ns: int) -> None:
        if timeout_ns <= 0:
            raise ValueError(f"watchdog timeout must be > 0 ns, got {timeout_ns}")
        self.timeout_ns = timeout_ns
        self.mode = RobotMode.IDLE
        self.last_fresh_ns: int | None = None
        self.stops = 0

    def _go(self, after: RobotMode, now_ns: int, reason: str) -> Transition:
        if (self.mode, after) not in self._ALLOWED:
            raise RuntimeError(f"watchdog: no transition {self.mode.value} → {after.value}")
        tr = Transition(self.mode, after, now_ns, reason)
        self.mode = after
        return tr

    def fresh(self, now_ns: int, as_of_ns: int | None = None) -> Transition | None:
        """An action was accepted at `now_ns`, decided on the state the robot captured at `as_of_ns`.

        An action is as fresh as the state it answers (default: its receipt): one that
        waited in a broker or a socket does not restart the clock on arrival, so the
        robot stops at most `timeout` after the agent last saw it. An action decided on a
        state already older than the timeout vouches for nothing.
        """
        as_of = now_ns if as_of_ns is None else min(as_of_ns, now_ns)
        if now_ns - as_of > self.timeout_ns:
            return None
        self.last_fresh_ns = as_of if self.last_fresh_ns is None else max(self.last_fresh_ns, as_of)
        if self.mode is RobotMode.RUNNING:
            return None
        reason = "first fresh action" if self.mode is RobotMode.IDLE else "fresh action after a watchdog stop"
        return self._go(RobotMode.RUNNING, now_ns, reason)

    @property
    def deadline_ns(self) -> int | None:
        """When the robot stops unless a fresh action comes first (None unless RUNNING).

        The robot's loop wakes at this time as well as at its ticks, so a stop is
        never rounded up to the next tick (up to a whole period late otherwise).
        """
        if self.mode is not RobotMode.RUNNING or self.last_fresh_ns is None:
            return None
        return self.last_fresh_ns + self.timeout_ns + 1

    def check(self, now_ns: int) -> Transition | None:
        """Stops the robot once the last fresh action is older than the timeout (at ticks and at `deadline_ns`)."""
        if self.mode is not RobotMode.RUNNING or self.last_fresh_ns is None:
            return None
        silent_ns = now_ns - self.last_fresh_ns
        if silent_ns <= self.timeout_ns:
            return None
        self.stops += 1
        return self._go(
            RobotMode.STOPPED,
            now_ns,
            f"watchdog: no fresh action for {silent_ns / 1e6:.1f} ms (timeout {self.timeout_ns / 1e6:.0f} ms)",
        )


def hold_chunk(
    obs: Sequence[float] | np.ndarray, t_ns: int, dt_ns: int, steps: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """(u (steps, 3), times (steps,)): stay at the robot's position (obs[0:2]), gripper (obs[2]) as it is.

    Reach-and-grasp's action layout; times from `t_ns` (the state's capture time) `dt_ns` apart.
    """
    u = np.tile(np.array([obs[0], obs[1], 1.0 if obs[2] > 0 else -1.0], dtype=np.float64), (steps, 1))
    return u, t_ns + dt_ns * np.arange(steps, dtype=np.int64)
