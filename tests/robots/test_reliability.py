"""Reliability of the whole loop on real brokers: the simulated robot and the agent over MQTT.

Both ends run here in one event loop but as separate MQTT clients through the
broker (the `liveloop robot` CLI test runs the robot in its own process).
Timing thresholds are not asserted; what is asserted is behaviour: who stops,
who reconnects, what is accepted, what stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

from liveloop.robots.bridge import BridgeConfig, MqttBridge
from liveloop.robots.broker import EmbeddedBroker, MosquittoBroker
from liveloop.robots.control import AgentRunner, ExpertResponder
from liveloop.robots.link import LinkConfig, MqttLink, Outgoing
from liveloop.robots.protocol import Action, ActionChunk, Codec, ErrorReport, RobotMode, Side
from liveloop.robots.robot import SimConfig
from liveloop.robots.sim import SimRobot

ROBOT_ID = "rel"


async def until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def loop_running(broker: EmbeddedBroker | MosquittoBroker) -> AsyncIterator[tuple[SimRobot, AgentRunner]]:
    robot = SimRobot(SimConfig(robot_id=ROBOT_ID, watchdog_ms=100), broker.address, spin_ms=0.0)
    runner = AgentRunner(MqttBridge(broker.address, BridgeConfig(robot_id=ROBOT_ID)), ExpertResponder())
    async with asyncio.TaskGroup() as tg:
        tg.create_task(robot.run(), name="test.robot")
        tg.create_task(runner.run(), name="test.agent")
        try:
            await until(lambda: robot.core.mode is RobotMode.RUNNING, 10, "the robot to run on fresh actions")
            yield robot, runner
        finally:
            runner.stop()
            robot.stop()


async def test_broker_killed_and_restarted(mosquitto: MosquittoBroker) -> None:
    async with loop_running(mosquitto) as (robot, runner):
        await asyncio.sleep(0.3)
        assert robot.core.mode is RobotMode.RUNNING
        kill_ns = time.monotonic_ns()
        mosquitto.kill()
        # the robot loses its actions: the watchdog stops it
        await until(lambda: robot.core.mode is RobotMode.STOPPED, 3, "the watchdog to stop the robot")
        stop = robot.core.transitions[-1]
        assert stop.after is RobotMode.STOPPED and stop.reason.startswith("watchdog: no fresh action")
        assert stop.at_ns > kill_ns
        # the robot's own loop keeps ticking without a broker, and stays stopped
        ticks = robot.pacer.ticks
        await asyncio.sleep(0.3)
        assert robot.pacer.ticks > ticks
        assert robot.core.mode is RobotMode.STOPPED
        assert robot.link.stats.outgoing_drops > 0  # states dropped, not queued
        last_seq_before = robot.core.schedule.last_seq
        restart_ns = time.monotonic_ns()
        states_before_restart = robot.core.states_published
        await mosquitto.start()
        # both sides reconnect and control resumes
        await until(lambda: robot.core.mode is RobotMode.RUNNING, 10, "control to resume after the restart")
        assert robot.link.stats.connects == 2
        assert runner.bridge.link.stats.connects == 2
        await asyncio.sleep(0.2)
        # fresh actions only: everything accepted after the restart is newer and answers a newer state
        after = [a for a in robot.core.accepted if a[2] > restart_ns]
        assert after
        assert all(seq > last_seq_before for seq, _, _ in after)
        assert all(state_seq >= states_before_restart for _, state_seq, _ in after)
        assert [a[0] for a in after] == sorted(a[0] for a in after)


async def test_agent_killed_robot_stops(broker: EmbeddedBroker | MosquittoBroker) -> None:
    async with loop_running(broker) as (robot, runner):
        await asyncio.sleep(0.2)
        runner.stop()  # the agent goes silent; the broker stays up
        await until(lambda: robot.core.mode is RobotMode.STOPPED, 3, "the watchdog stop")
        stop = robot.core.transitions[-1]
        assert "no fresh action" in stop.reason
        x = robot.core.obs[:2].copy()
        await asyncio.sleep(0.2)
        assert (robot.core.obs[:2] == x).all()  # zero velocity
        assert robot.core.schedule.due(time.monotonic_ns()) is None  # nothing left to replay


async def test_malformed_and_oversized_payloads_answered_loop_goes_on(
    broker: EmbeddedBroker | MosquittoBroker,
) -> None:
    codec = Codec(ROBOT_ID)
    t = codec.topics
    probe = MqttLink(broker.address, LinkConfig("test-probe"), ((t.error, 0),))
    async with loop_running(broker) as (robot, _runner), asyncio.TaskGroup() as tg:
        tg.create_task(probe.run())
        await asyncio.wait_for(probe.wait_connected(), 5)
        await asyncio.sleep(0.1)  # the subscription is in place
        bad = [
            (t.action, b"{oops"),
            (t.action, json.dumps({"v": 1, "robot": ROBOT_ID, "seq": "x", "actions": []}).encode()),
            (t.action, b'{"v": 1, "robot": "' + ROBOT_ID.encode() + b'", "pad": "' + b"x" * 100_000 + b'"}'),
            (t.state, json.dumps({"v": 1, "robot": ROBOT_ID, "seq": 0, "t_ns": "late", "obs": []}).encode()),
            (t.state, json.dumps({"v": 9, "robot": ROBOT_ID, "seq": 0, "t_ns": 1, "obs": []}).encode()),
        ]
        for topic, payload in bad:
            assert probe.publish_nowait(Outgoing(topic, payload, 1))
        reports: list[ErrorReport] = []

        def collect() -> bool:
            reports.extend(r for m in probe.drain() if isinstance(r := codec.decode(m.topic, m.payload), ErrorReport))
            return len(reports) >= len(bad)

        await until(collect, 5, "an error report for every bad payload")
        by_side = {(r.source, r.field) for r in reports}
        assert (Side.ROBOT, None) in by_side  # not JSON / too big
        assert (Side.ROBOT, "$.seq") in by_side
        assert (Side.AGENT, "$.t_ns") in by_side
        assert (Side.AGENT, "$.v") in by_side
        assert any("exceeds the limit" in r.message for r in reports)
        # the loop kept going: still running on fresh actions
        accepted = len(robot.core.accepted)
        await asyncio.sleep(0.2)
        assert robot.core.mode is RobotMode.RUNNING
        assert len(robot.core.accepted) > accepted
        probe.close()


async def test_action_flood_stays_bounded(broker: EmbeddedBroker | MosquittoBroker) -> None:
    codec = Codec(ROBOT_ID)
    flooder = MqttLink(broker.address, LinkConfig("test-flood", outgoing_max=8192), ())
    async with loop_running(broker) as (robot, runner), asyncio.TaskGroup() as tg:
        tg.create_task(flooder.run())
        await asyncio.wait_for(flooder.wait_connected(), 5)
        ticks = robot.pacer.ticks
        t0 = time.monotonic()
        n = 600
        for i in range(n):  # expired chunks, garbage and states, as fast as the client goes
            if i % 3 == 0:
                chunk = ActionChunk(robot=ROBOT_ID, session="rogue", seq=i, actions=[Action(i, [0.0, 0.0, 1.0])])
                flooder.publish_nowait(Outgoing(*codec.encode(chunk), 0))
            elif i % 3 == 1:
                flooder.publish_nowait(Outgoing(codec.topics.action, b"garbage", 0))
            else:
                flooder.publish_nowait(Outgoing(codec.topics.state, b"garbage", 0))
            if i % 100 == 0:
                await asyncio.sleep(0)
        await until(lambda: not flooder._out, 30, "the flood to be sent")
        await asyncio.sleep(0.5)
        elapsed_s = time.monotonic() - t0
        assert robot.link.stats.peak_incoming <= robot.link.config.incoming_max
        assert runner.bridge.link.stats.peak_incoming <= runner.bridge.link.config.incoming_max
        # answers are rate-limited (10/s, burst 10), not one per garbage message
        assert robot.core.malformed >= 100
        assert robot.core.errors_reported <= 10 * (elapsed_s + 1) + 1
        assert robot.pacer.ticks > ticks  # the loop kept ticking
        # the genuine agent is still in control; the rogue expired chunks were never accepted
        await until(lambda: robot.core.mode is RobotMode.RUNNING, 15, "control after the flood")
        assert robot.core.schedule.session == runner.bridge.core.session
        flooder.close()
