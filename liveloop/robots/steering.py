"""What the robot pursues, steered by the voice agent's goals (pure: no I/O, no clock of its own).

The policy reaches for the world's target, which it sees in its observation.
Goals change that target, or pause the policy::

    goal (voice agent)        pursuit   what the robot gets
    FOLLOW ["the person"] ──► TRACK     the target follows that camera track (any track without a label
                                        match); with no track seen for `lost_after_s`, the target is let go
                                        and moves by itself (the simulator's own motion)
    MOVE left/right/…     ──► POINT     the target placed `move_step_m` from where it is now, still
    STOP                  ──► HOLD      the policy pauses; every state is answered with a hold chunk
                                        (set-point = where the robot is, gripper as it is)

    IDLE ──► TRACK (at start: follow whatever the camera sees, else the simulator's target)
    TRACK / POINT / HOLD ──any goal──► its pursuit      (leaving HOLD bumps `epoch`: the policy restarts)

`SteeringCore` returns what to send (`TargetCommand`s) and answers "hold?"; the
graph nodes (`robots.nodes`) do the sending. A new episode of the simulated task
resets its target, so the current target is sent again whenever the episode
changes. Image → world mapping of tracks: `TargetMapping`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.agent.responder import Goal, GoalKind
from liveloop.graph.clock import NS_PER_S
from liveloop.robots.schedule import hold_chunk


class Pursuit(enum.Enum):
    TRACK = "track"  # a camera track, or the simulator's own moving target while none is seen
    POINT = "point"  # a still point (MOVE)
    HOLD = "hold"  # stay where it is; the policy pauses (STOP)


@dataclass(frozen=True, slots=True)
class TargetMapping:
    """Image → the simulated robot's target box (metres; image y grows down, the world's y up)."""

    box: tuple[float, float, float, float] = (-0.8, 0.35, 0.8, 0.85)  # x0, y0, x1, y1
    every_s: float = 0.1  # send a tracked target at most this often

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"box must be (x0, y0, x1, y1) with x0 < x1, y0 < y1, got {self.box}")
        if self.every_s < 0:
            raise ValueError(f"every_s must be >= 0, got {self.every_s}")

    def to_world(self, cx: float, cy: float, size: tuple[int, int]) -> tuple[float, float]:
        w, h = size
        x0, y0, x1, y1 = self.box
        u, v = min(max(cx / w, 0.0), 1.0), min(max(cy / h, 0.0), 1.0)
        return x0 + u * (x1 - x0), y1 - v * (y1 - y0)

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return min(max(x, x0), x1), min(max(y, y0), y1)


def track_target(
    p: Any, size: tuple[int, int], mapping: TargetMapping
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A vision `PredictedTrack` → (position, velocity) in the world (velocity from its forecast path)."""
    pos = mapping.to_world(p.box.cx, p.box.cy, size)
    vel = (0.0, 0.0)
    f = p.forecast
    if len(f.t_ns) >= 2 and f.t_ns[-1] > f.t_ns[0]:
        a = mapping.to_world(float(f.xy[0][0]), float(f.xy[0][1]), size)
        b = mapping.to_world(float(f.xy[-1][0]), float(f.xy[-1][1]), size)
        dt = (int(f.t_ns[-1]) - int(f.t_ns[0])) / NS_PER_S
        vel = ((b[0] - a[0]) / dt, (b[1] - a[1]) / dt)
    return pos, vel


# MOVE directions (the responder's words) → unit steps in the world (x right, y away from the robot's start)
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "forward": (0.0, 1.0),
    "back": (0.0, -1.0),
}


@dataclass(frozen=True, slots=True)
class SteeringConfig:
    mapping: TargetMapping = field(default_factory=TargetMapping)
    move_step_m: float = 0.3  # MOVE shifts the target this far
    lost_after_s: float = 1.0  # TRACK: no track for this long → the target moves by itself again
    hold_steps: int = 3  # a hold chunk's length in control steps (it must outlive the next state)

    def __post_init__(self) -> None:
        if self.move_step_m <= 0:
            raise ValueError(f"move_step_m must be > 0, got {self.move_step_m}")
        if self.lost_after_s <= 0:
            raise ValueError(f"lost_after_s must be > 0, got {self.lost_after_s}")
        if self.hold_steps < 2:
            raise ValueError(f"hold_steps must be >= 2, got {self.hold_steps}")


@dataclass(frozen=True, slots=True)
class TargetCommand:
    """Send this on `…/target`: a position and velocity, or ``free`` (the simulator's own motion)."""

    position: tuple[float, float] = (0.0, 0.0)
    velocity: tuple[float, float] = (0.0, 0.0)
    free: bool = False


FREE = TargetCommand(free=True)


class SteeringCore:
    """Goals, tracks and states in; target commands and the hold decision out. See the module docstring."""

    def __init__(self, config: SteeringConfig | None = None) -> None:
        self.config = config or SteeringConfig()
        self.pursuit = Pursuit.TRACK
        self.label: str | None = None  # TRACK: the label asked for ("person"), None: any
        self.point: tuple[float, float] | None = None  # POINT: where the target is put
        self.epoch = 0  # bumped when the policy must restart (leaving HOLD)
        self.goals = 0
        self.last_goal: Goal | None = None
        self.last_error: str | None = None
        self.sent: TargetCommand | None = None  # the last command sent (re-sent on a new episode)
        self._target: tuple[float, float] | None = None  # where the robot last said its target is
        self._episode: float | None = None
        self._track_ns: int | None = None  # when a track was last used
        self._track_sent_ns: int | None = None

    @property
    def holding(self) -> bool:
        return self.pursuit is Pursuit.HOLD

    # -- inputs -------------------------------------------------------------
    def on_goal(self, goal: Goal, now_ns: int) -> list[TargetCommand]:
        """A goal from the voice agent."""
        self.goals += 1
        self.last_goal = goal
        was_holding = self.holding
        out: list[TargetCommand] = []
        if goal.kind is GoalKind.STOP:
            self.pursuit = Pursuit.HOLD
            return out
        if goal.kind is GoalKind.FOLLOW:
            self.pursuit = Pursuit.TRACK
            self.label = _label(goal.target)
            self.point = None
            self._track_ns = self._track_sent_ns = None
            out.append(self._send(FREE))  # until a matching track shows up, the target moves by itself
        elif goal.kind is GoalKind.MOVE:
            step = DIRECTIONS.get(goal.direction or "")
            if step is None:  # the responder only says these; anything else leaves the pursuit as it is
                self.last_error = f"MOVE direction must be one of {', '.join(DIRECTIONS)}, got {goal.direction!r}"
                return out
            x, y = self.point or self._target or _centre(self.config.mapping.box)
            d = self.config.move_step_m
            self.pursuit = Pursuit.POINT
            self.point = self.config.mapping.clamp(x + d * step[0], y + d * step[1])
            out.append(self._send(TargetCommand(self.point)))
        if was_holding:
            self.epoch += 1
        return out

    def on_state(self, target: Sequence[float], episode: float | None, now_ns: int) -> list[TargetCommand]:
        """Every robot state: where it says the target is, and its episode."""
        if len(target) >= 2:
            self._target = (float(target[0]), float(target[1]))
        out: list[TargetCommand] = []
        if episode != self._episode:
            new = self._episode is not None
            self._episode = episode
            if new and self.sent is not None and not self.sent.free:
                out.append(self._send(self.sent))  # the new episode reset the simulator's target
        if (
            self.pursuit is Pursuit.TRACK
            and self._track_ns is not None
            and now_ns - self._track_ns > self.config.lost_after_s * NS_PER_S
        ):
            self._track_ns = None
            out.append(self._send(FREE))  # the track is lost: the target moves by itself again
        return out

    def on_tracks(self, tracks: Sequence[Any], size: tuple[int, int], now_ns: int) -> list[TargetCommand]:
        """Predicted camera tracks (vision `PredictedTrack`s, pixel boxes in a frame of `size`)."""
        if self.pursuit is not Pursuit.TRACK or not tracks:
            return []
        chosen = self._choose(tracks)
        if chosen is None:
            return []
        self._track_ns = now_ns
        last = self._track_sent_ns
        if last is not None and now_ns - last < self.config.mapping.every_s * NS_PER_S:
            return []
        self._track_sent_ns = now_ns
        pos, vel = track_target(chosen, size, self.config.mapping)
        return [self._send(TargetCommand(pos, vel))]

    def _choose(self, tracks: Sequence[Any]) -> Any | None:
        if self.label is None:
            return tracks[0]
        for p in tracks:
            label = getattr(getattr(p, "track", p), "label", None)
            if isinstance(label, str) and (self.label in label.lower() or label.lower() in self.label):
                return p
        return None  # the asked-for thing is not in view: keep what the target does now

    def _send(self, cmd: TargetCommand) -> TargetCommand:
        self.sent = cmd
        return cmd

    # -- outputs ------------------------------------------------------------
    def hold_chunk(self, obs: Sequence[float], t_ns: int, dt_ns: int) -> tuple[np.ndarray, np.ndarray]:
        return hold_chunk(obs, t_ns, dt_ns, self.config.hold_steps)

    def describe(self) -> dict[str, Any]:
        """For the page: what the robot pursues and why."""
        if self.pursuit is Pursuit.TRACK:
            text = f"following the {self.label}" if self.label else "following the target"
        elif self.pursuit is Pursuit.POINT:
            text = "going to the point"
        else:
            text = "holding still"
        return {
            "pursuit": self.pursuit.value,
            "label": self.label,
            "point": list(self.point) if self.point else None,
            "tracking": self._track_ns is not None,  # TRACK: a camera track drives the target now
            "text": text,
            "goal": self.last_goal.to_json() if self.last_goal else None,
            "goals": self.goals,
        }


def _label(target: str | None) -> str | None:
    if not target or target in ("me", "you", "us"):
        return None  # "follow me": whatever the camera sees
    return target.strip().lower() or None


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2
