"""The simulated robot process: `SimRobotCore` on a fixed-rate loop, talking MQTT.

`liveloop robot sim` runs `run_sim` in its own process (a robot controller is
never inside the agent's event loop). One tick per period on absolute
deadlines (`timing.RatePacer`), the network on the side::

    every tick:  sleep to the deadline → drain received messages → core.tick → queue publishes
    between:     the watchdog's deadline (last fresh action + timeout) falls before the next tick →
                 sleep to it → drain → core.expire (the stop, on time; a fresh action moves the deadline)

The loop never waits on the network: messages arrive in the link's bounded
queue and leave through its bounded sender; with the broker gone, the robot
keeps ticking, its watchdog stops it, and states are dropped (counted) until
the link is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock
from liveloop.robots.link import BrokerAddress, LinkConfig, MqttLink, Outgoing
from liveloop.robots.robot import SimConfig, SimRobotCore
from liveloop.robots.timing import PacerConfig, RatePacer, sleep_until


@dataclasses.dataclass(frozen=True, slots=True)
class SimReport:
    """What a finished run measured (also written as JSON by `--report`)."""

    loop: dict[str, float]
    state_to_action: dict[str, float]
    transitions: list[dict[str, Any]]
    link: dict[str, Any]
    outcomes: dict[str, int]
    episodes: int
    errors_reported: int
    stale_actions: int
    jitter_ms: list[float]
    state_to_action_ms: list[float]

    def to_json(self) -> dict[str, Any]:
        return {
            "loop": self.loop,
            "state_to_action": self.state_to_action,
            "transitions": self.transitions,
            "link": self.link,
            "outcomes": self.outcomes,
            "episodes": self.episodes,
            "errors_reported": self.errors_reported,
            "stale_actions": self.stale_actions,
            "jitter_ms": self.jitter_ms,
            "state_to_action_ms": self.state_to_action_ms,
        }


class SimRobot:
    """The asyncio process around `SimRobotCore`; `await run(duration_s)` then `report()`."""

    def __init__(
        self, config: SimConfig, broker: BrokerAddress, *, spin_ms: float = 1.0, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.clock = clock or MonotonicClock()
        self.core = SimRobotCore(config)
        self.pacer = RatePacer(PacerConfig(config.rate_hz, spin_ms))
        self.core.loop_stats = self.pacer.stats
        client_id = f"liveloop-robot-{config.robot_id}-{os.getpid()}"
        self.link = MqttLink(broker, LinkConfig(client_id), self.core.subscriptions(), self.clock)
        self._stop = asyncio.Event()
        self.realtime = False  # running under SCHED_FIFO

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> SimReport:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run(), name="robot.link")
            try:
                await self._loop(duration_s)
            finally:
                self.link.close()
        return self.report()

    async def _loop(self, duration_s: float | None) -> None:
        clock, pacer, core = self.clock, self.pacer, self.core
        spin_ns = round(pacer.config.spin_ms * NS_PER_MS)
        start = clock.now_ns()
        end = None if duration_s is None else start + round(duration_s * NS_PER_S)
        pacer.start(start)
        while not self._stop.is_set():
            deadline = pacer.next_deadline_ns
            if end is not None and deadline > end:
                break
            stop_at = core.watchdog_deadline_ns
            if stop_at is not None and stop_at < deadline:
                # the watchdog's own deadline falls before the tick: wake for it (a stop is never rounded up)
                await sleep_until(clock, stop_at, spin_ns)
                self._drain()
                self._publish(core.expire(clock.now_ns()))
                continue
            await sleep_until(clock, deadline, spin_ns)
            now = clock.now_ns()
            pacer.tick_started(now)
            self._drain()
            self._publish(core.tick(now))
            pacer.tick_finished(clock.now_ns())

    def _drain(self) -> None:
        """Hand everything received to the core (a fresh action moves the watchdog's deadline)."""
        for msg in self.link.drain():
            self._publish(self.core.on_message(msg.topic, msg.payload, msg.received_ns))

    def _publish(self, outs: list[Outgoing]) -> None:
        for o in outs:
            self.link.publish_nowait(o)

    def report(self) -> SimReport:
        core = self.core
        return SimReport(
            loop={**self.pacer.stats(), "realtime": float(self.realtime)},
            state_to_action=core.latency_stats(),
            transitions=[
                {"before": t.before.value, "after": t.after.value, "at_ns": t.at_ns, "reason": t.reason}
                for t in core.transitions
            ],
            link=dataclasses.asdict(self.link.stats),
            outcomes=dict(core.outcomes),
            episodes=core.episode,
            errors_reported=core.errors_reported,
            stale_actions=core.schedule.stale_count,
            jitter_ms=[round(x, 4) for x in self.pacer.lateness_ms().tolist()],
            state_to_action_ms=[round(x, 4) for x in core.latency_ms().tolist()],
        )


def enter_realtime(priority: int = 10) -> str | None:
    """Ask for SCHED_FIFO, as a robot's control process would; returns why not, or None on success.

    The kernel's real-time throttling (sched_rt_runtime_us) still leaves the other
    processes their share even if this one spun forever.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, PermissionError, OSError) as exc:
        return f"SCHED_FIFO refused: {exc}"
    return None


async def run_sim(
    config: SimConfig,
    broker: BrokerAddress,
    *,
    duration_s: float | None = None,
    spin_ms: float = 1.0,
    report_path: Path | None = None,
    realtime: bool = False,
) -> SimReport:
    """Run until `duration_s` passes or SIGINT/SIGTERM; optionally write the report as JSON."""
    rt_error = enter_realtime() if realtime else "not requested"
    if realtime and rt_error:
        print(f"liveloop robot sim: {rt_error}; running at normal priority", file=sys.stderr)
    robot = SimRobot(config, broker, spin_ms=spin_ms)
    robot.realtime = rt_error is None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, robot.stop)
    report = await robot.run(duration_s)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_json()))
    return report
