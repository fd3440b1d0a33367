"""`liveloop robot`'s page and voice agent around a running robot graph (real broker, simulated robot, aiohttp).

The voice agent's typed goals go through the real /ws session and responder; the robot is the
in-process `SimRobot` on an embedded amqtt broker; the policy is the shipped RTI checkpoint, traced as in
the app (eager PyTorch in a worker thread holds the GIL op by op and can stall this shared event loop).
Assertions are about behaviour (where the target went, whether the robot holds), never timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from aiohttp import ClientSession, ClientWebSocketResponse
from aiohttp.test_utils import TestServer

from liveloop.agent.responder import Goal, GoalKind
from liveloop.apps.robot import RobotWebConfig, build_robot_app, parse_goal
from liveloop.apps.voice import AgentStack
from liveloop.policy.tasks.reach_grasp import TargetMode
from liveloop.robots.app import RobotAppConfig
from liveloop.robots.bridge import BridgeConfig, MqttBridge
from liveloop.robots.broker import EmbeddedBroker
from liveloop.robots.protocol import RobotMode
from liveloop.robots.robot import SimConfig
from liveloop.robots.sim import SimRobot
from liveloop.robots.steering import Pursuit

WAIT_S = 20.0  # generous: the machine may be loaded; each wait ends as soon as its condition holds
STARTUP_S = 120.0  # the graph's set-up compiles the policy (seconds of ONNX export; more when loaded)


async def until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.02)
    assert cond(), what


async def next_event(
    ws: ClientWebSocketResponse,
    kind: str,
    where: Callable[[dict[str, Any]], bool] = lambda ev: True,
    timeout_s: float = WAIT_S,
) -> dict[str, Any]:
    """The next event of this type (that satisfies `where`); events already queued at the client count."""
    async with asyncio.timeout(timeout_s):
        while True:
            ev = await ws.receive_json()
            if ev.get("type") == kind and where(ev):
                return ev


async def say(ws: ClientWebSocketResponse, text: str) -> dict[str, Any]:
    await ws.send_json({"type": "text", "text": text})
    return await next_event(ws, "agent.reply")


def test_parse_goal_names_the_fault() -> None:
    assert parse_goal({"type": "goal", "kind": "move", "direction": "left"}) == Goal(GoalKind.MOVE, direction="left")
    assert parse_goal({"type": "goal", "kind": "follow", "target": "cup"}) == Goal(GoalKind.FOLLOW, target="cup")
    with pytest.raises(ValueError, match="'kind' must be one of follow, stop, move"):
        parse_goal({"type": "goal", "kind": "dance"})
    with pytest.raises(ValueError, match="'direction' must be one of"):
        parse_goal({"type": "goal", "kind": "move", "direction": "up"})


async def test_voice_goals_steer_the_robot_and_the_page_sees_it() -> None:
    async with EmbeddedBroker() as addr:
        # the 100 ms production watchdog is tested in tests/robots; here a 400 ms one still stops a robot the
        # agent forgot (a hold lasts seconds) without tripping on a >100 ms pause of a shared, loaded test machine
        robot = SimRobot(SimConfig(robot_id="web", episode_s=120, watchdog_ms=400.0), addr, spin_ms=0.0)
        bridge = MqttBridge(addr, BridgeConfig(robot_id="web"))
        parts = build_robot_app(bridge, AgentStack(), RobotAppConfig(), RobotWebConfig(port=0))
        steering, src = parts.hub.steering, parts.nodes["robot"]
        server = TestServer(parts.web, host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(robot.run(120.0), name="sim")
                graph = tg.create_task(parts.graph.run(), name="graph")
                async with ClientSession() as http:
                    page = await http.ws_connect(server.make_url("/robot/ws"))
                    hello = await page.receive_json()
                    assert hello["type"] == "robot.hello" and hello["obstacle"]["r"] > 0
                    first = await next_event(page, "robot.state", timeout_s=STARTUP_S)
                    second = await next_event(page, "robot.state")
                    assert second["version"] > first["version"]  # live: newer states keep coming
                    assert first["pursuit"]["pursuit"] == "track"
                    await until(lambda: robot.core.mode is RobotMode.RUNNING, "the policy drives the robot")
                    await until(lambda: (parts.hub.state_event() or {}).get("mode") == "running", "state seen")
                    async with http.get(server.make_url("/robot/state")) as r:
                        assert r.status == 200 and (await r.json())["mode"] == "running"

                    voice = await http.ws_connect(server.make_url("/ws"))
                    # MOVE: the target is put 0.3 m to the left of where it was, and stays there
                    x_before = float(robot.core.task.target[0])
                    reply = await say(voice, "go left")
                    assert reply["goal"] == {"kind": "move", "target": None, "direction": "left"}
                    assert "robot is attached" not in reply["text"]  # the responder knows a robot is there
                    await until(lambda: robot.core.task.target_mode is TargetMode.CONSTANT, "target placed")
                    assert steering.pursuit is Pursuit.POINT
                    assert float(robot.core.task.target[0]) == pytest.approx(max(x_before - 0.3, -0.8), abs=0.03)
                    ev = await next_event(page, "robot.state", lambda ev: ev["pursuit"]["pursuit"] == "point")
                    assert ev["pursuit"]["point"] == pytest.approx(list(steering.point or ()))

                    # STOP: the robot holds where it is, still under control (no watchdog stop)
                    reply = await say(voice, "stop")
                    assert reply["goal"]["kind"] == "stop"
                    holds = src.holds
                    await until(lambda: src.holds > holds + 10, "hold chunks answer the states")
                    here, episode = robot.core.obs[:2].copy(), robot.core.episode
                    await until(lambda: src.holds > holds + 30, "still holding")
                    if robot.core.episode == episode:  # (a grasp completed in the meantime starts a new episode)
                        # each hold's set-point is where the robot was when its state was taken: it settles
                        np.testing.assert_allclose(robot.core.obs[:2], here, atol=5e-3)
                    assert robot.core.mode is RobotMode.RUNNING and robot.core.watchdog.stops == 0
                    assert parts.nodes["observe"].paused > 0  # the policy got nothing meanwhile

                    # FOLLOW (no camera here): the target moves by itself again and the policy resumes
                    sent = parts.nodes["actions"].sent
                    reply = await say(voice, "follow me")
                    assert reply["goal"]["kind"] == "follow"
                    await until(lambda: robot.core.task.target_mode is TargetMode.BOUNCE, "target let go")
                    await until(lambda: parts.nodes["actions"].sent > sent + 3, "the policy drives again")
                    # while it made its fresh plan the robot was held, not stopped by its watchdog
                    assert robot.core.watchdog.stops == 0 and src.waits > 0
                    assert parts.nodes["actions"].held >= 0 and not steering.holding

                    # the panel's buttons send the same goals over /robot/ws; bad ones are answered
                    await page.send_json({"type": "goal", "kind": "stop"})
                    await until(lambda: steering.holding, "button stop")
                    await page.send_json({"type": "goal", "kind": "move", "direction": "up"})
                    err = await next_event(page, "error")
                    assert err["code"] == "bad_goal" and "direction" in err["message"]
                    await voice.close()
                    await page.close()
                parts.graph.stop()
                await graph
                robot.stop()
        finally:
            await server.close()
    assert [g.kind for g in parts.hub.goals] == [GoalKind.MOVE, GoalKind.STOP, GoalKind.FOLLOW, GoalKind.STOP]


def test_tracking_vision_hands_tracks_to_the_hub_and_delegates_the_rest() -> None:
    from types import SimpleNamespace

    from liveloop.apps.robot import TrackingVision

    got: list[tuple[list[Any], tuple[int, int], int]] = []
    hub = SimpleNamespace(on_tracks_threadsafe=lambda tracks, size, now: got.append((tracks, size, now)))
    seen = SimpleNamespace(tracks=["t1"], events=[])
    inner = SimpleNamespace(config="cfg", feed=lambda frame, capture_ns, now_ns, *a, **kw: seen)
    vision = TrackingVision(inner, hub)  # type: ignore[arg-type]
    assert vision.feed(np.zeros((48, 64, 3)), 1, 2, latency_ns=5) is seen
    assert got == [(["t1"], (64, 48), 2)]
    assert vision.config == "cfg"
