"""What the page draws of the robot: its newest state, plan and pursuit as JSON events (pure).

    on_state(StateIn)            the robot's newest state (latest wins: nothing queues)
    on_plan(u, times_ns)         the plan the robot was last sent (policy chunk or hold)
    on_statuses(bridge.statuses) mode changes and episode ends (with a reason), kept as a short log
    hello() -> dict              once per page: the world's geometry (workspace, obstacle, target box)
    event(pursuit) -> dict       the newest {"type": "robot.state", …}; `version` grows with every state

Events (coordinates in metres, the world's y up; the page scales them)::

    {"type": "robot.hello", "robot": id, "workspace": [x0, y0, x1, y1], "obstacle": {"x", "y", "r"},
     "target_box": [x0, y0, x1, y1], "grasp_radius": m}
    {"type": "robot.state", "version": n, "robot": [x, y], "gripper": ±1, "target": [x, y],
     "target_velocity": [vx, vy], "mode": "idle|running|stopped", "episode": k, "time_s": s,
     "distance_m": m, "held": bool, "plan": [[x, y], …], "age_ms": ms, "pursuit": {…}, "log": [str, …]}
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from liveloop.graph.clock import NS_PER_MS
from liveloop.policy.tasks.reach_grasp import ReachGraspConfig
from liveloop.robots.bridge import StateIn, StatusIn
from liveloop.robots.protocol import RobotStatus

LOG_KEPT = 8


class RobotView:
    def __init__(self, robot_id: str = "sim", task: ReachGraspConfig | None = None) -> None:
        self.robot_id = robot_id
        self.task = task or ReachGraspConfig()
        self.version = 0
        self._state: StateIn | None = None
        self._plan: list[list[float]] = []
        self._log: deque[str] = deque(maxlen=LOG_KEPT)
        self._last_status: StatusIn | None = None

    def on_state(self, s: StateIn) -> None:
        self._state = s
        self.version += 1

    def on_plan(self, u: np.ndarray, times_ns: np.ndarray) -> None:
        self._plan = [[round(float(a[0]), 4), round(float(a[1]), 4)] for a in np.asarray(u)]

    def on_status(self, status: RobotStatus) -> None:
        if status.reason:
            self._log.append(f"{status.mode.value}: {status.reason}")

    def on_statuses(self, statuses: Sequence[StatusIn]) -> None:
        """The bridge's bounded status history: take the ones not seen yet (it is not consumed)."""
        new: list[StatusIn] = []
        for item in reversed(statuses):
            if item is self._last_status:
                break
            new.append(item)
        if statuses:
            self._last_status = statuses[-1]
        for item in reversed(new):
            self.on_status(item.status)

    def hello(self) -> dict[str, Any]:
        t = self.task
        h = t.workspace_half_m
        cx, cy = t.obstacle_center
        return {
            "type": "robot.hello",
            "robot": self.robot_id,
            "workspace": [-h, -h, h, h],
            "obstacle": {"x": cx, "y": cy, "r": t.obstacle_radius_m},
            "target_box": list(t.target_box),
            "grasp_radius": t.grasp_radius_m,
        }

    def event(self, pursuit: dict[str, Any] | None, now_ns: int) -> dict[str, Any] | None:
        """The newest state as an event (None before the first state)."""
        s = self._state
        if s is None:
            return None
        st = s.state
        obs = st.obs
        info = st.info
        return {
            "type": "robot.state",
            "version": self.version,
            "robot": [obs[0], obs[1]],
            "gripper": obs[2],
            "target": [obs[3], obs[4]],
            "target_velocity": [obs[5], obs[6]],
            "mode": st.mode.value,
            "episode": int(info.get("episode", 0.0)),
            "time_s": info.get("time_s", 0.0),
            "distance_m": info.get("distance_m", 0.0),
            "held": bool(info.get("held", 0.0)),
            "plan": self._plan,
            "age_ms": round((now_ns - s.origin_ns) / NS_PER_MS, 2),
            "pursuit": pursuit,
            "log": list(self._log),
        }
