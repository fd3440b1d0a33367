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

Steering (`steering.SteeringCore`, shared through `RobotState.steering`): the
voice agent's goals decide what the robot pursues. While it says HOLD (STOP),
`RobotState` answers every state with a hold chunk, `PolicyInput` passes
nothing and `RobotActions` drops chunks decided before the stop; letting go
interrupts the policy (a fresh full denoise). `TargetFromTracks` hands camera
tracks to the steering core, which sends the target on `…/target`.
While the policy makes a fresh plan (the full denoise at the start of an
episode or after a hold), `RobotState` answers with hold chunks too, for at
most ``think_s``: the robot stays put and under control instead of being
stopped by its watchdog, and a policy that never answers is still caught.
`RobotState.view` (`view.RobotView`) keeps what the page draws.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import numpy as np

from liveloop.graph import Input, Latest, Node, NodeContext, Output
from liveloop.graph.clock import NS_PER_S
from liveloop.graph.event import Event, EventKind
from liveloop.robots.bridge import MqttBridge, StateIn
from liveloop.robots.schedule import hold_chunk
from liveloop.robots.steering import SteeringCore, TargetCommand, TargetMapping
from liveloop.robots.view import RobotView

__all__ = [
    "PlanKeeper",
    "PolicyInput",
    "RobotActions",
    "RobotState",
    "TargetFromTracks",
    "TargetMapping",
    "send_targets",
]


class PlanKeeper:
    """Pure: the newest plan (graph-clock times), what is left of it, and whether a fresh one is awaited.

    ``expect(now)`` drops the plan because a new one is being made from scratch (a new
    episode, or the robot let go after a hold: the policy's full denoise); until it
    comes, `waiting` says so for at most ``think_ns`` — a policy that never answers
    still lets the robot's watchdog stop it.
    """

    def __init__(self, keep_before_ns: int) -> None:
        self.keep_before_ns = keep_before_ns
        self.times_ns: np.ndarray | None = None
        self.u: np.ndarray | None = None
        self.expected_ns: int | None = None

    def set(self, u: np.ndarray, times_ns: np.ndarray) -> None:
        self.u, self.times_ns = np.asarray(u, dtype=np.float64), np.asarray(times_ns, dtype=np.int64)
        self.expected_ns = None

    def expect(self, now_ns: int) -> None:
        self.clear()
        self.expected_ns = now_ns

    def waiting(self, now_ns: int, think_ns: int) -> bool:
        return self.expected_ns is not None and now_ns - self.expected_ns < think_ns

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

    def __init__(
        self,
        bridge: MqttBridge,
        name: str | None = None,
        *,
        heartbeat_dt_s: float = 0.1,
        steering: SteeringCore | None = None,
        view: RobotView | None = None,
        think_s: float = 2.0,
    ) -> None:
        super().__init__(name or "robot")
        if think_s <= 0:
            raise ValueError(f"think_s must be > 0, got {think_s}")
        self.bridge = bridge
        self.dt_ns = round(heartbeat_dt_s * NS_PER_S)
        self.think_ns = round(think_s * NS_PER_S)  # hold at most this long while the policy makes a fresh plan
        self.plan = PlanKeeper(self.dt_ns)
        self.phase_origin_ns = 0  # capture time of the first state of this episode / since the last hold
        self._phase: tuple[object, int] | None = None
        self.waits = 0  # states answered with a hold chunk while a fresh plan was being made
        self.steering = steering or SteeringCore()
        self.view = view or RobotView(bridge.core.config.robot_id)
        self.heartbeats = 0
        self.holds = 0  # states answered with a hold chunk (steering says STOP)
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
                    self._answer(s, ctx.now_ns())
                    await ctx.emit("state", s, origin_ns=s.origin_ns)
            finally:
                bridge.close()

    def _answer(self, s: StateIn, now_ns: int) -> None:
        """Steer, then answer the state: a hold chunk (STOP) or what is left of the plan (a heartbeat)."""
        bridge, steering, st = self.bridge, self.steering, s.state
        self.view.on_state(s)
        self.view.on_statuses(bridge.statuses)
        episode = st.info.get("episode")
        send_targets(bridge, steering.on_state(st.target, episode, now_ns))
        phase = (episode, steering.epoch)
        if phase != self._phase:  # a new episode, or let go after a hold: the policy makes a fresh plan
            self._phase, self.phase_origin_ns = phase, s.origin_ns
            self.plan.expect(now_ns)
        if steering.holding:
            self.plan.clear()  # never resumed: the policy re-plans when the robot is let go
            self._hold(s)
            self.holds += 1
            return
        rest = self.plan.rest(now_ns)
        if rest is not None:
            if bridge.send_actions(rest[0], rest[1], st.seq):
                self.heartbeats += 1
        elif self.plan.waiting(now_ns, self.think_ns):
            self._hold(s)  # alive and thinking: stay put rather than let the watchdog stop the robot
            self.waits += 1

    def _hold(self, s: StateIn) -> None:
        u, times = hold_chunk(s.state.obs, s.origin_ns, self.dt_ns, self.steering.config.hold_steps)
        if self.bridge.send_actions(u, times, s.state.seq):
            self.view.on_plan(u, times)


class PolicyInput(Node):
    """One observation per policy control step; INTERRUPT downstream when a new episode starts."""

    state = Input(StateIn, Latest())
    observations = Output(object, doc="np.ndarray (obs_dim,) float64; origin_ns = robot capture time")

    def __init__(
        self, control_dt_s: float = 0.1, name: str | None = None, *, steering: SteeringCore | None = None
    ) -> None:
        super().__init__(name or "observe")
        if control_dt_s <= 0:
            raise ValueError(f"control_dt_s must be > 0, got {control_dt_s}")
        self.dt_ns = round(control_dt_s * NS_PER_S)
        self.steering = steering
        self._last_ns: int | None = None
        self._episode: float | None = None
        self._epoch = 0
        self.episodes = 0
        self.paused = 0  # states not passed on while the robot holds (STOP)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        s: StateIn = event.data
        steering = self.steering
        if steering is not None and steering.holding:
            self.paused += 1
            return
        ep = s.state.info.get("episode")
        epoch = steering.epoch if steering is not None else 0
        if ep != self._episode or epoch != self._epoch:
            if self._episode is not None:
                self.episodes += ep != self._episode
                # a new episode, or the robot let go after a hold: the policy's warm start is stale
                await ctx.send_control(EventKind.INTERRUPT, origin_ns=event.origin_ns)
            self._episode, self._epoch = ep, epoch
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
        self.held = 0

    async def process(self, event: Event, ctx: NodeContext) -> None:
        chunk: Any = event.data
        src = self.source
        if src.steering.holding or chunk.origin_ns < src.phase_origin_ns:
            self.held += 1  # decided before a STOP, or from a state of the last episode: never sent
            return
        u, times = np.asarray(chunk.actions), np.asarray(chunk.times_ns, dtype=np.int64)
        src.plan.set(u, times)
        if src.bridge.send_actions(u, times, src.state_seq(chunk.origin_ns)):
            self.sent += 1
            src.view.on_plan(u, times)
        else:
            self.dropped += 1


class TargetFromTracks(Node):
    """Sink: predicted camera tracks steer the robot's target (through the source's `SteeringCore`)."""

    tracks = Input(object, Latest(), doc="vision PredictionBatch")

    def __init__(self, source: RobotState, name: str | None = None) -> None:
        super().__init__(name or "target")
        self.source = source
        self.sent = 0

    async def process(self, event: Event, ctx: NodeContext) -> None:
        batch: Any = event.data
        if self.source.bridge.connected:
            self.sent += send_targets(
                self.source.bridge, self.source.steering.on_tracks(batch.tracks, batch.frame_size, ctx.now_ns())
            )


def send_targets(bridge: MqttBridge, commands: list[TargetCommand]) -> int:
    """Publish steering's target commands; returns how many went out."""
    return sum(bridge.send_target(c.position, c.velocity, free=c.free) for c in commands)
