"""`liveloop robot` with its page: the voice agent's web app, with the robot attached.

    page (mic, camera, typed text) ──► VoiceSession ──Goal──► RobotHub.on_goal ──► SteeringCore ──► …/target, holds
                           camera ──► vision ──tracks──► RobotHub.on_tracks ──┘      (follow: the tracked thing)
    robot graph (liveloop.robots.app: state → RTI policy → actions) ──RobotView──► /robot/ws ──► static/robot.js

This module only composes. The web app is `liveloop.web.app.create_app` with
the stack of `liveloop.apps.stack.load_stack`; here the stack gets a
``goal_sink`` (the voice agent's robot goals steer the policy), a responder
that knows a robot is attached, and a vision factory whose tracks also reach
the robot. Two routes are added:

    GET /robot/ws      WebSocket: one robot.hello, then robot.state events (the newest only, at most
                       `view_hz` a second: a slow page skips states, it never queues them). Accepts
                       {"type": "goal", "kind": "follow|stop|move", "target"?: str, "direction"?: str}
                       (the panel's buttons), answered like a spoken goal.
    GET /robot/state   the newest robot.state as JSON (404 before the robot's first state)

Event fields: `liveloop.robots.view`. The page's robot panel is
`static/robot.js` (it draws nothing where /robot/state does not exist, i.e.
under `liveloop serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from liveloop.agent.responder import Goal, GoalKind
from liveloop.apps.voice import AgentStack
from liveloop.graph import Graph
from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.robots.app import RobotAppConfig, build_robot_graph, graph_summary
from liveloop.robots.bridge import MqttBridge
from liveloop.robots.nodes import send_targets
from liveloop.robots.steering import DIRECTIONS, SteeringConfig, SteeringCore
from liveloop.robots.view import RobotView
from liveloop.web.app import authorized

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RobotWebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    view_hz: float = 25.0  # robot.state events per second to each page, at most
    asr: bool = True
    tts: bool = True
    vision: bool = True
    steering: SteeringConfig = dataclasses.field(default_factory=SteeringConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not 0 < self.view_hz <= 60:
            raise ValueError(f"view_hz must be in (0, 60], got {self.view_hz}")


class RobotHub:
    """The robot as the web app sees it: goals and tracks in (steering), the view out. Event-loop side."""

    def __init__(self, bridge: MqttBridge, steering: SteeringCore, view: RobotView, clock: Clock | None = None) -> None:
        self.bridge = bridge
        self.steering = steering
        self.view = view
        self.clock = clock or MonotonicClock()
        self.goals: deque[Goal] = deque(maxlen=8)  # the last few, for the report and tests
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):  # built outside a loop: `bind_loop()` once it runs
            self._loop = asyncio.get_running_loop()

    def bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    def on_goal(self, goal: Goal) -> None:
        """The voice session's `goal_sink` (called on the event loop)."""
        self.goals.append(goal)
        cmds = self.steering.on_goal(goal, self.clock.now_ns())
        if self.bridge.connected:
            send_targets(self.bridge, cmds)
        log.info("robot goal %s → %s", goal.to_json(), self.steering.describe()["text"])

    def on_tracks(self, tracks: list[Any], size: tuple[int, int], now_ns: int) -> None:
        if self.bridge.connected:
            send_targets(self.bridge, self.steering.on_tracks(tracks, size, now_ns))

    def on_tracks_threadsafe(self, tracks: list[Any], size: tuple[int, int], now_ns: int) -> None:
        """From the vision worker thread: hand the tracks to the event loop (never touch the core here)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_tracks, tracks, size, now_ns)

    def state_event(self) -> dict[str, Any] | None:
        return self.view.event(self.steering.describe(), self.clock.now_ns())


class TrackingVision:
    """A session's vision pipeline whose tracks also steer the robot (runs in the session's worker thread)."""

    def __init__(self, inner: Any, hub: RobotHub) -> None:
        self.inner = inner
        self.hub = hub

    def __getattr__(self, name: str) -> Any:  # config, frames, …: the pipeline's own
        return getattr(self.inner, name)

    def feed(self, frame: Any, capture_ns: int, now_ns: int, *args: Any, **kwargs: Any) -> Any:
        seen = self.inner.feed(frame, capture_ns, now_ns, *args, **kwargs)
        shape = getattr(frame, "shape", None)
        size = (int(shape[1]), int(shape[0])) if shape is not None else (int(frame.width), int(frame.height))
        self.hub.on_tracks_threadsafe(list(seen.tracks), size, now_ns)
        return seen


def attach_robot(stack: AgentStack, hub: RobotHub) -> AgentStack:
    """The stack with the robot attached: goals to the hub, robot wording, tracks to the hub too."""
    stack.goal_sink = hub.on_goal
    stack.responder = dataclasses.replace(stack.responder, robot_attached=True)
    if stack.vision is not None:
        factory: Callable[[], Any] = stack.vision
        stack.vision = lambda: TrackingVision(factory(), hub)
    return stack


HUB_KEY: web.AppKey[RobotHub] = web.AppKey("robot_hub")
VIEW_HZ_KEY: web.AppKey[float] = web.AppKey("robot_view_hz")


def add_robot_routes(app: web.Application, hub: RobotHub, view_hz: float = 25.0) -> None:
    app[HUB_KEY] = hub
    app[VIEW_HZ_KEY] = view_hz
    app.router.add_get("/robot/ws", robot_ws)
    app.router.add_get("/robot/state", robot_state)


def _error(code: str, message: str, status: int) -> web.Response:
    return web.json_response({"type": "error", "code": code, "message": message}, status=status)


async def robot_state(request: web.Request) -> web.Response:
    if not authorized(request):
        return _error("unauthorized", "missing or wrong bearer token", 401)
    ev = request.app[HUB_KEY].state_event()
    if ev is None:
        return _error("no_state", "the robot has not sent a state yet", 404)
    return web.json_response(ev)


def parse_goal(message: dict[str, Any]) -> Goal:
    """A panel button's {"type": "goal", …} → Goal, or ValueError naming the fault."""
    try:
        kind = GoalKind(message.get("kind"))
    except ValueError:
        raise ValueError(
            f"'kind' must be one of {', '.join(k.value for k in GoalKind)}, got {message.get('kind')!r}"
        ) from None
    direction = message.get("direction")
    if kind is GoalKind.MOVE and direction not in DIRECTIONS:
        raise ValueError(f"'direction' must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    target = message.get("target")
    if target is not None and not isinstance(target, str):
        raise ValueError(f"'target' must be a string, got {type(target).__name__}")
    return Goal(kind, target=target, direction=direction if kind is GoalKind.MOVE else None)


async def robot_ws(request: web.Request) -> web.StreamResponse:
    if not authorized(request):
        return _error("unauthorized", "missing or wrong bearer token", 401)
    hub, period_s = request.app[HUB_KEY], 1.0 / request.app[VIEW_HZ_KEY]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 16)
    await ws.prepare(request)
    await ws.send_str(json.dumps(hub.view.hello()))
    closed = asyncio.Event()

    async def reader() -> None:
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                    if not isinstance(message, dict) or message.get("type") != "goal":
                        raise ValueError('a message must be a JSON object with "type": "goal"')
                    hub.on_goal(parse_goal(message))
                except ValueError as exc:  # json.JSONDecodeError is a ValueError
                    await ws.send_str(json.dumps({"type": "error", "code": "bad_goal", "message": str(exc)}))
        finally:
            closed.set()

    async def writer() -> None:
        sent = -1
        while not ws.closed:
            ev = hub.state_event()
            if ev is not None and ev["version"] != sent:  # only the newest state, never a backlog
                sent = ev["version"]
                await ws.send_str(json.dumps(ev))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period_s):
                    await closed.wait()

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(reader(), name="robot_ws.reader")
            tg.create_task(writer(), name="robot_ws.writer")
    except* (ConnectionResetError, RuntimeError) as eg:  # the page went away mid-send
        log.info("robot page left: %s", eg.exceptions)
    return ws


@dataclass(slots=True)
class RobotApp:
    """The assembled parts: the web app, the robot graph and its nodes, the hub between them."""

    web: web.Application
    graph: Graph
    nodes: dict[str, Any]
    hub: RobotHub


def build_robot_app(
    bridge: MqttBridge,
    stack: AgentStack,
    config: RobotAppConfig | None = None,
    web_config: RobotWebConfig | None = None,
) -> RobotApp:
    from liveloop.rtc.config import RtcConfig
    from liveloop.web.app import WebConfig, create_app

    wcfg = web_config or RobotWebConfig()
    steering = SteeringCore(wcfg.steering)
    view = RobotView(bridge.core.config.robot_id)
    graph, nodes = build_robot_graph(bridge, config, steering=steering, view=view)
    hub = RobotHub(bridge, steering, view)
    app = create_app(
        WebConfig.secured(wcfg.host, wcfg.port, wcfg.token, rtc=RtcConfig.from_env()), attach_robot(stack, hub)
    )
    add_robot_routes(app, hub, wcfg.view_hz)
    return RobotApp(app, graph, nodes, hub)


async def run_robot_app(
    bridge: MqttBridge,
    config: RobotAppConfig | None = None,
    web_config: RobotWebConfig | None = None,
    *,
    duration_s: float | None = None,
    report_path: Path | None = None,
) -> dict[str, Any]:
    """Serve the page and run the robot graph until `duration_s` passes (or the task is cancelled)."""
    from liveloop.apps.stack import load_stack
    from liveloop.web.app import CONFIG_KEY

    wcfg = web_config or RobotWebConfig()
    print("liveloop robot: loading the speech and vision models (once per process)…", file=sys.stderr, flush=True)
    stack = load_stack(asr=wcfg.asr, tts=wcfg.tts, vision=wcfg.vision)
    parts = build_robot_app(bridge, stack, config, wcfg)
    parts.hub.bind_loop()
    runner = web.AppRunner(parts.web, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, wcfg.host, wcfg.port)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else wcfg.port  # type: ignore[union-attr,attr-defined]
    shown = "127.0.0.1" if wcfg.host in ("0.0.0.0", "::") else wcfg.host
    token = parts.web[CONFIG_KEY].token
    for part, note in stack.notes.items():
        print(f"liveloop robot: {part}: {note}", file=sys.stderr)
    print(f"liveloop robot: open http://{shown}:{bound}/" + (f"#token={token}" if token else ""), flush=True)
    try:
        report = await parts.graph.run(duration_s=duration_s)
    finally:
        await runner.cleanup()
    summary = graph_summary(bridge, parts.nodes)
    summary["graph"] = report.to_dict()
    summary["goals"] = [g.to_json() for g in parts.hub.goals]
    print(report.table())
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(summary, indent=1, default=str))
    return summary


__all__ = [
    "RobotApp",
    "RobotHub",
    "RobotWebConfig",
    "TrackingVision",
    "add_robot_routes",
    "attach_robot",
    "build_robot_app",
    "parse_goal",
    "run_robot_app",
]
