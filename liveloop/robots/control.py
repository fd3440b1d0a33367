"""Closing the loop on the agent's side: robot state → a responder (policy) → timed action chunks.

A **responder** turns recent observations into a plan: ``decide(window) -> (H, A)``
actions spaced ``control_dt_s`` apart, the first one for the time of the newest
observation. Three are provided:

    expert     the reach-and-grasp task's scripted expert (no learning): a placeholder policy,
               one set-point per decision, re-decided on every state
    rti        the diffusion policy with the Real-Time Iteration sampler (re-plans every control step)
    ddpm100    the diffusion policy with a full 100-step DDPM denoise, executing 8 actions per chunk

`ControllerCore` is pure. For every state it answers with one chunk: a fresh
decision when one is due and ready, otherwise the rest of the current plan,
re-stamped (a heartbeat the robot's watchdog counts as fresh: the agent is alive
and still vouches for the plan). A cheap decision (``next_is_cheap``: a warm RTI
step of a traced network, a few ms) runs on the event loop; a slow one runs in a
worker thread while heartbeats continue; a plan that has run out is never re-sent, so a stuck
policy lets the robot's watchdog stop it. `AgentRunner` is the asyncio part.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock
from liveloop.robots.bridge import MqttBridge, StateIn
from liveloop.robots.schedule import hold_chunk

# RTI-scale (gripper trained at ±0.1): the best grasp success of the RTI variants (benchmarks/rti_policy.py)
RTI_CHECKPOINT = "reach_grasp_scale"
# RTI's first decision of an episode as DDIM-10 (≈ 13 ms) rather than DDPM-100 (≈ 130 ms), so that it meets the
# 20 ms state → action budget too; success 84.7 % against 87.3 % over the same 150 episodes (rti_policy.py)
RTI_COLD_START = "ddim10"


class Responder(Protocol):
    name: str
    control_dt_s: float  # spacing of the actions in a plan
    replan_s: float  # how old a plan may get before the next decision (0: decide on every state)
    n_obs: int  # observations per decision, control_dt_s apart

    def reset(self) -> None: ...

    def decide(self, window: np.ndarray) -> np.ndarray:
        """(n_obs, obs_dim), oldest first → (H, action_dim), action 0 due at the newest observation's time."""
        ...

    def next_is_cheap(self) -> bool:
        """Will the next decision take only a few ms? Then it runs on the event loop, answering its very state."""
        ...


class ExpertResponder:
    """The task's scripted expert (`ReachGraspExpert`): a placeholder for a learned policy."""

    name = "expert"
    n_obs = 1
    replan_s = 0.0

    def __init__(self, seed: int = 0) -> None:
        from liveloop.policy.tasks.reach_grasp import ReachGraspConfig, ReachGraspExpert

        cfg = ReachGraspConfig()
        self.control_dt_s = cfg.control_dt_s
        self.expert = ReachGraspExpert(cfg, seed=seed)
        self.expert.reset()

    def reset(self) -> None:
        self.expert.reset()

    def decide(self, window: np.ndarray) -> np.ndarray:
        # one set-point: where to be one control step from now (ControllerCore times it so)
        return self.expert.act(window[-1])[None, :]  # (1, 3)

    def next_is_cheap(self) -> bool:
        return True


class DiffusionResponder:
    """The policy package's diffusion policy with the RTI or the full DDPM sampler.

    The network is traced at load (`DiffusionPolicy.compile`): a warm RTI decision
    then costs a few ms and runs on the event loop; the full denoise that starts an
    episode (and every DDPM-100 decision) runs in a worker thread.
    """

    def __init__(
        self, sampler: str = "rti", checkpoint: str | None = None, seed: int = 0, cold: str = RTI_COLD_START
    ) -> None:
        import torch

        from liveloop.policy.model import DiffusionPolicy
        from liveloop.policy.rti import ColdStart, DiscreteMode, RtiSampler
        from liveloop.policy.samplers import FullSampler, StepKind

        torch.set_num_threads(1)
        policy = DiffusionPolicy.load(checkpoint or (RTI_CHECKPOINT if sampler == "rti" else "reach_grasp"))
        cfg = policy.config
        self.policy = policy
        self.name = sampler
        self.n_obs = cfg.n_obs
        self.control_dt_s = cfg.control_dt_s
        self.first = cfg.first_executed
        if sampler == "rti":
            mode = DiscreteMode.SCALE if cfg.gripper_scale < 1.0 else DiscreteMode.CLIP
            self.sampler: Any = RtiSampler(policy, mode, seed=seed, cold=ColdStart(cold))
            self._cold_is_short = self.sampler.cold is not ColdStart.DDPM100
            self.replan_s = cfg.control_dt_s
            self.n_exec = cfg.horizon - self.first
        elif sampler == "ddpm100":
            self.sampler = FullSampler(policy, StepKind.DDPM, seed=seed)
            self.replan_s = cfg.control_dt_s * cfg.n_action
            self.n_exec = cfg.n_action
        else:
            raise ValueError(f"sampler must be 'rti' or 'ddpm100', got {sampler!r}")
        if sampler == "rti":
            self.sampler.compile(1, knob=False)  # this loop never turns the max_nfe knob
        else:
            self.sampler.compile(1)

        from liveloop.policy.tasks.reach_grasp import ReachGrasp

        obs = ReachGrasp().reset(seed)  # warm the network up once (first-call allocations)
        self.decide(np.stack([obs] * self.n_obs))
        self.reset()

    @property
    def last_nfe(self) -> int:
        return int(self.sampler.last_nfe)

    def reset(self) -> None:
        self.sampler.reset()

    def decide(self, window: np.ndarray) -> np.ndarray:
        chunk = self.sampler.decide(window[None])[0]  # (H, A)
        return chunk[self.first : self.first + self.n_exec]

    def next_is_cheap(self) -> bool:
        """A warm RTI step (3 NFE) or a DDIM-10 cold start: a few ms compiled. Not DDPM-100's 100 NFE."""
        if self.name != "rti":
            return False
        return self.sampler.prev_clean is not None or self._cold_is_short


def make_responder(name: str, seed: int = 0, cold: str = "ddim10") -> Responder:
    """``cold``: how RTI's first decision of an episode denoises (`liveloop.policy.rti.ColdStart` values)."""
    if name == "expert":
        return ExpertResponder(seed)
    if name in ("rti", "ddpm100"):
        return DiffusionResponder(name, seed=seed, cold=cold)
    raise ValueError(f"policy must be one of expert, rti, ddpm100; got {name!r}")


class DecideIn(enum.Enum):
    """Where `AgentRunner` runs a decision."""

    LOOP_WHEN_CHEAP = "loop"  # cheap ones (`next_is_cheap`) on the event loop, slow ones in a worker thread
    THREAD = "thread"  # every one in a worker thread (the traced chain runs without the GIL)


class ChunkKind(enum.Enum):
    DECISION = "decision"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True, slots=True)
class Plan:
    times_ns: np.ndarray  # (N,) graph clock
    u: np.ndarray  # (N, A)
    made_ns: int


class ControllerCore:
    """Which chunk answers a state; see the module docstring. Pure: times are passed in."""

    def __init__(self, responder: Responder, history_s: float = 1.0, think_s: float = 2.0) -> None:
        if think_s <= 0:
            raise ValueError(f"think_s must be > 0, got {think_s}")
        self.responder = responder
        self.think_ns = round(think_s * NS_PER_S)
        self.waiting_since_ns: int | None = None  # a fresh plan (a full denoise) is being made since then
        self.dt_ns = round(responder.control_dt_s * NS_PER_S)
        self.history: deque[tuple[int, np.ndarray]] = deque(maxlen=max(8, round(history_s * 200)))
        self.plan: Plan | None = None
        self.episode: float | None = None
        self.resets = 0

    def observe(self, s: StateIn) -> None:
        ep = s.state.info.get("episode")
        if ep != self.episode:
            if self.episode is not None:
                self.responder.reset()
                self.resets += 1
            self.episode = ep
            self.history.clear()
            self.plan = None
            self.waiting_since_ns = s.received_ns
        self.history.append((s.origin_ns, np.asarray(s.state.obs, dtype=np.float64)))

    def window(self) -> tuple[int, np.ndarray]:
        """(time of the newest observation, (n_obs, obs_dim) observations control_dt_s apart, oldest first)."""
        t_new, newest = self.history[-1]
        rows = [newest]
        for j in range(1, self.responder.n_obs):
            want = t_new - j * self.dt_ns
            best = min(self.history, key=lambda h: abs(h[0] - want))  # nearest; the first state repeats
            rows.append(best[1])
        return t_new, np.stack(rows[::-1])

    def decision_due(self, now_ns: int) -> bool:
        if self.plan is None:
            return True
        return now_ns - self.plan.made_ns >= round(self.responder.replan_s * NS_PER_S)

    def accept(self, t_obs_ns: int, actions: np.ndarray, now_ns: int) -> Plan:
        n = actions.shape[0]
        times = t_obs_ns + np.arange(n, dtype=np.int64) * self.dt_ns
        if n == 1:
            times = times + self.dt_ns
        self.plan = Plan(times, actions, now_ns)
        self.waiting_since_ns = None
        return self.plan

    def hold(self, now_ns: int) -> Plan | None:
        """While the first plan of an episode is being made (for at most `think_s`): stay where the robot is."""
        if self.plan is not None or self.waiting_since_ns is None or now_ns - self.waiting_since_ns >= self.think_ns:
            return None
        t_new, newest = self.history[-1]
        u, times = hold_chunk(newest, t_new, self.dt_ns)
        return Plan(times, u, now_ns)

    def heartbeat(self, now_ns: int) -> Plan | None:
        """What is left of the plan from one step before now (None when it has run out)."""
        p = self.plan
        if p is None:
            return None
        keep = p.times_ns >= now_ns - self.dt_ns
        if not keep.any() or p.times_ns[-1] < now_ns:
            return None
        return Plan(p.times_ns[keep], p.u[keep], p.made_ns)


@dataclass
class AgentReport:
    policy: str
    decide_in: str = DecideIn.LOOP_WHEN_CHEAP.value
    decisions: int = 0
    heartbeats: int = 0
    holds: int = 0  # states answered "stay put" while an episode's first plan was being made
    states: int = 0
    decide_ms: list[float] = dataclasses.field(default_factory=list)
    decide_cpu_ms: list[float] = dataclasses.field(default_factory=list)  # CPU time of the deciding thread
    nfe: list[int] = dataclasses.field(default_factory=list)  # network evaluations per decision
    state_to_action_ms: list[float] = dataclasses.field(default_factory=list)  # state received → decision published
    pickup_ms: list[float] = dataclasses.field(default_factory=list)  # state received → the loop took it
    reconnects: int = 0
    dropped_sends: int = 0
    bridge: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def pct(xs: list[float], q: float) -> float | None:
            return round(float(np.percentile(xs, q)), 3) if xs else None

        most = max(self.nfe, default=0)  # once: inside the comprehension it made every report O(n²)
        warm = [x for x, n in zip(self.state_to_action_ms, self.nfe, strict=False) if n < most]
        return {
            "policy": self.policy,
            "decide_in": self.decide_in,
            "nfe_p50": pct([float(n) for n in self.nfe], 50),
            "state_to_action_ms_p99_warm": pct(warm, 99),  # without the full denoise that starts each episode
            "decisions": self.decisions,
            "heartbeats": self.heartbeats,
            "holds": self.holds,
            "states": self.states,
            "decide_ms_p50": pct(self.decide_ms, 50),
            "decide_ms_p99": pct(self.decide_ms, 99),
            "decide_cpu_ms_p50": pct(self.decide_cpu_ms, 50),
            "pickup_ms_p50": pct(self.pickup_ms, 50),
            "pickup_ms_p99": pct(self.pickup_ms, 99),
            "state_to_action_ms_p50": pct(self.state_to_action_ms, 50),
            "state_to_action_ms_p99": pct(self.state_to_action_ms, 99),
            "reconnects": self.reconnects,
            "dropped_sends": self.dropped_sends,
            "bridge": self.bridge,
        }


class AgentRunner:
    """The control loop over an `MqttBridge`; all tasks in one TaskGroup.

    A cheap decision (a warm RTI step, the expert) runs on the loop and answers the
    very state it was made for; a slow one (a full denoise) runs in a worker thread
    while the loop keeps answering states with heartbeats.
    """

    HISTORY = 100_000  # latency samples kept

    def __init__(
        self,
        bridge: MqttBridge,
        responder: Responder,
        clock: Clock | None = None,
        decide_in: DecideIn = DecideIn.LOOP_WHEN_CHEAP,
    ) -> None:
        self.bridge = bridge
        self.decide_in = decide_in
        self.core = ControllerCore(responder)
        self.clock = clock or MonotonicClock()
        self.report = AgentReport(responder.name, decide_in=decide_in.value)
        self._decision: asyncio.Task[None] | None = None
        self._stopping = False

    def stop(self) -> None:
        """Finish the loop after the current state (the bridge closes; the robot's watchdog takes over)."""
        self._stopping = True

    async def run(self, duration_s: float | None = None, report_path: Path | None = None) -> AgentReport:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.bridge.run(), name="agent.bridge")
            if report_path is not None:
                tg.create_task(self._write_reports(report_path), name="agent.report")
            try:
                await self._loop(tg, duration_s)
            finally:
                self.bridge.close()
        if report_path is not None:
            self._write(report_path)
        return self.report

    async def _loop(self, tg: asyncio.TaskGroup, duration_s: float | None) -> None:
        end = None if duration_s is None else self.clock.now_ns() + round(duration_s * NS_PER_S)
        while not self._stopping and (end is None or self.clock.now_ns() < end):
            try:  # wake at least every 0.2 s to notice stop() and the end
                left = 0.2 if end is None else max(0.0, min(0.2, (end - self.clock.now_ns()) / NS_PER_S))
                async with asyncio.timeout(left):
                    s = await self.bridge.next_state()
            except TimeoutError:
                continue
            self.report.states += 1
            self.core.observe(s)
            now = self.clock.now_ns()
            busy = self._decision is not None and not self._decision.done()
            if not busy and self.core.decision_due(now):
                if self.decide_in is DecideIn.LOOP_WHEN_CHEAP and self.core.responder.next_is_cheap():
                    self._decide_now(s)  # a few ms on the loop: no thread hop, no fight for the GIL
                    continue
                self._decision = tg.create_task(self._decide(s), name="agent.decide")
            hb = self.core.heartbeat(now)
            if hb is not None:
                if self.bridge.send_actions(hb.u, hb.times_ns, s.state.seq):
                    self.report.heartbeats += 1
            elif (hold := self.core.hold(now)) is not None and self.bridge.send_actions(
                hold.u, hold.times_ns, s.state.seq
            ):
                self.report.holds += 1  # the first plan of the episode is being made: stay put

    def _timed_decide(self, window: np.ndarray) -> tuple[np.ndarray, int]:
        """-> (actions, CPU ns the deciding thread spent)."""
        c0 = time.thread_time_ns()
        actions = self.core.responder.decide(window)
        return actions, time.thread_time_ns() - c0

    def _decide_now(self, s: StateIn) -> None:
        t0 = self.clock.now_ns()
        t_obs, window = self.core.window()
        self._publish(s, t_obs, *self._timed_decide(window), t0)

    async def _decide(self, s: StateIn) -> None:
        """A slow decision (a full denoise) in a worker thread; heartbeats go on meanwhile."""
        t0 = self.clock.now_ns()
        t_obs, window = self.core.window()
        actions, cpu_ns = await asyncio.to_thread(self._timed_decide, window)
        self._publish(s, t_obs, actions, cpu_ns, t0)

    def _publish(self, s: StateIn, t_obs: int, actions: np.ndarray, cpu_ns: int, t0: int) -> None:
        now = self.clock.now_ns()
        plan = self.core.accept(t_obs, actions, now)
        if self.bridge.send_actions(plan.u, plan.times_ns, s.state.seq):
            rep = self.report
            rep.decisions += 1
            if len(rep.decide_ms) < self.HISTORY:
                rep.decide_ms.append((now - t0) / NS_PER_MS)
                rep.decide_cpu_ms.append(cpu_ns / NS_PER_MS)
                rep.pickup_ms.append((t0 - s.received_ns) / NS_PER_MS)
                rep.nfe.append(int(getattr(self.core.responder, "last_nfe", 0)))
                rep.state_to_action_ms.append((self.clock.now_ns() - s.received_ns) / NS_PER_MS)
        else:
            self.report.dropped_sends += 1

    def _write(self, path: Path) -> None:
        self.report.reconnects = max(0, self.bridge.link.stats.connects - 1)
        self.report.bridge = {
            **dataclasses.asdict(self.bridge.core.stats),
            **{f"link_{k}": v for k, v in dataclasses.asdict(self.bridge.link.stats).items()},
            "states_dropped": self.bridge.states_dropped,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**self.report.summary(), "state_to_action_ms": self.report.state_to_action_ms}))
        tmp.replace(path)

    async def _write_reports(self, path: Path) -> None:
        """Every second, so that even a killed agent leaves its numbers behind."""
        while self.bridge.link.state.value != "closed":
            await asyncio.sleep(1.0)
            self._write(path)
