"""Graph nodes that put the MQTT bridge into a liveloop graph.

    robots.RobotState ──state (latest)──► robots.PolicyInput ──observations──► policy.Policy
          ▲ MQTT                                                                   │ actions
          │                                                                        ▼
     simulated robot ◄──────────── MQTT ◄──────────── robots.RobotActions ◄── (latest)
     (its own process)  ◄── …/target ◄── robots.TargetFromTracks ◄── vision.Predictor ◄── vision.Tracker ◄── frames

`RobotState` owns the `MqttBridge` (its connection runs inside the node's
TaskGroup) and emits every state with ``origin_ns`` = the robot's capture time
mapped onto the graph clock, so every budget downstream is measured from the
moment the robot measured it. `RobotActions` shares that bridge and publishes
the policy's timed action chunks; `PlanKeeper` keeps the newest plan so that
`RobotState` can answer every state with the rest of it (a heartbeat the robot's
watchdog counts) while the policy thinks. `PolicyInput` passes one state per
policy control step and sends an INTERRUPT down the path when the robot starts
a new episode (the policy's next decision is then a full denoise).
`TargetFromTracks` maps the first predicted track from the camera onto the
simulated robot's target box and sends it on `…/target`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveloop.graph import Input, Latest, Node, NodeContext, Output
from liveloop.graph.clock import NS_PER_S
from liveloop.graph.event import Event, EventKind
from liveloop.robots.bridge import MqttBridge, StateIn


class PlanKeeper:
    """Pure: the newest plan (graph-clock times) and what is left of it at a given time."""

    def __init__(self, keep_before_ns: int) -> None:
        self.keep_before_ns = keep_before_ns
        self.times_ns: np.ndarray | None = None
        self.u: np.ndarray | None = None

    def set(self, u: np.ndarray, times_ns: np.ndarray) -> None:
        self.u, self.times_ns = np.asarray(u, dtype=np.float64), np.asarray(times_ns, dtype=np.int64)

    def rest(self, now_ns: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.times_ns is None or self.u is None or self.times_ns[-1] < now_ns:
            return None  # a plan that has run out is never re-sent
        keep = self.times_ns >= now_ns - self.keep_before_ns
        return self.u[keep], self.times_ns[keep]

    def clear(self) -> None:
        self.times_ns = self.u = None


class RobotState(Node):
    """Source: robot states from MQTT (latest), stamped with the robot's capture time."""

    state = Output(StateIn, doc="StateIn; origin_ns = when the robot measured it (graph clock)")

    def __init__(self, bridge: MqttBridge, name: str | None = None, *, heartbeat_dt_s: float = 0.1) -> None:
        super().__init__(name or "robot")
        self.bridge = bridge
        self.plan = PlanKeeper(round(heartbeat_dt_s * NS_PER_S))
        self.heartbeats = 0
        self._seq_of_origin: OrderedDict[int, int] = OrderedDict()  # origin_ns → state seq (bounded)

    def state_seq(self, origin_ns: int) -> int:
        return self._seq_of_origin.get(origin_ns, -1)

    async def run(self, ctx: NodeContext) -> None:
        bridge = self.bridge
        async with asyncio.TaskGroup() as tg:
            tg.create_task(bridge.run(), name=f"{self.name}.bridge")
            try:
                while True:
                    s = await bridge.next_state()
                    self._seq_of_origin[s.origin_ns] = s.state.seq
                    while len(self._seq_of_origin) > 256:
                        self._seq_of_origin.popitem(last=False)
                    rest = self.plan.rest(ctx.now_ns())
                    if rest is not None and bridge.send_actions(rest[0], rest[1], s.state.seq):
                        self.heartbeats += 1
                    await ctx.emit("state", s, origin_ns=s.origin_ns)
            finally:
                bridge.close()


class PolicyInput(Node):
    """One observation per policy control step; INTERRUPT downstream when a new episode starts."""

    state = Input(StateIn, Latest())
    observations = Output(object, doc="np.ndarray (obs_dim,) float64; origin_ns = robot capture time")

    def __init__(self, control_dt_s: float = 0.1, name: str | None = None) -> None:
        super().__init__(name or "observe")
        if control_dt_s <= 0:
            raise ValueError(f"control_dt_s must be > 0, got {control_dt_s}")
        self.dt_ns = round(control_dt_s * NS_PER_S)
        self._last_ns: int | None = None
        self._episode: float | None = None
        self.episodes = 0

    async def process(self, event: Event, ctx: NodeContext) -> None:
        s: StateIn = event.data
        ep = s.state.info.get("episode")
        if ep != self._episode:
            if self._episode is not None:
                self.episodes += 1
                await ctx.send_control(EventKind.INTERRUPT, origin_ns=event.origin_ns)
            self._episode = ep
            self._last_ns = None
        # a step is due a control period after the last one passed (5 % slack for jitter)
        if self._last_ns is not None and event.origin_ns - self._last_ns < self.dt_ns * 0.95:
            return
        self._last_ns = event.origin_ns
        await ctx.emit("observations", np.asarray(s.state.obs, dtype=np.float64), parent=event)


class RobotActions(Node):
    """Sink: the policy's timed action chunks, published to the robot (newest wins)."""

    actions = Input(object, Latest(), doc="policy.node.ActionChunk: .actions (N, A), .times_ns (N,), .origin_ns")

    def __init__(self, source: RobotState, name: str | None = None) -> None:
        super().__init__(name or "actions")
        self.source = source
        self.sent = 0
        self.dropped = 0

    async def process(self, event: Event, ctx: NodeContext) -> None:
        chunk: Any = event.data
        u, times = np.asarray(chunk.actions), np.asarray(chunk.times_ns, dtype=np.int64)
        self.source.plan.set(u, times)
        seq = self.source.state_seq(chunk.origin_ns)
        if self.source.bridge.send_actions(u, times, seq):
            self.sent += 1
        else:
            self.dropped += 1


@dataclass(frozen=True, slots=True)
class TargetMapping:
    """Image → the simulated robot's target box (metres; image y grows down, the world's y up)."""

    box: tuple[float, float, float, float] = (-0.8, 0.35, 0.8, 0.85)  # x0, y0, x1, y1
    every_s: float = 0.1  # send at most this often

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"box must be (x0, y0, x1, y1) with x0 < x1, y0 < y1, got {self.box}")

    def to_world(self, cx: float, cy: float, size: tuple[int, int]) -> tuple[float, float]:
        w, h = size
        x0, y0, x1, y1 = self.box
        u, v = min(max(cx / w, 0.0), 1.0), min(max(cy / h, 0.0), 1.0)
        return x0 + u * (x1 - x0), y1 - v * (y1 - y0)


class TargetFromTracks(Node):
    """Sink: the first predicted track (and its forecast velocity) becomes the robot's target."""

    tracks = Input(object, Latest(), doc="vision PredictionBatch")

    def __init__(self, source: RobotState, mapping: TargetMapping | None = None, name: str | None = None) -> None:
        super().__init__(name or "target")
        self.source = source
        self.mapping = mapping or TargetMapping()
        self.sent = 0
        self._last_ns: int | None = None

    async def process(self, event: Event, ctx: NodeContext) -> None:
        batch: Any = event.data
        if not batch.tracks:
            return
        now = ctx.now_ns()
        if self._last_ns is not None and now - self._last_ns < self.mapping.every_s * NS_PER_S:
            return
        p = batch.tracks[0]
        size = batch.frame_size
        pos = self.mapping.to_world(p.box.cx, p.box.cy, size)
        vel = (0.0, 0.0)
        f = p.forecast
        if len(f.t_ns) >= 2 and f.t_ns[-1] > f.t_ns[0]:
            a = self.mapping.to_world(float(f.xy[0][0]), float(f.xy[0][1]), size)
            b = self.mapping.to_world(float(f.xy[-1][0]), float(f.xy[-1][1]), size)
            dt = (int(f.t_ns[-1]) - int(f.t_ns[0])) / NS_PER_S
            vel = ((b[0] - a[0]) / dt, (b[1] - a[1]) / dt)
        if self.source.bridge.connected and self.source.bridge.send_target(pos, vel):
            self.sent += 1
            self._last_ns = now
