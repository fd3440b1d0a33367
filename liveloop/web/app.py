"""The aiohttp application behind `liveloop serve`.

    GET  /           the browser client (static/index.html, plain HTML/JS/CSS)
    GET  /static/…   its scripts and styles
    GET  /config     ICE servers and media limits for the browser (JSON)
    POST /offer      WebRTC signalling: {"sdp", "type": "offer"} → the answer
    GET  /ws         the WebSocket API (WS_API.md)
    GET  /metrics    Prometheus text: the graph runtime's metrics, the sessions' budgets, the process
    GET  /healthz    {"status": "ok", "sessions": n}

Admission (`liveloop.web.admission`): a new session is refused with HTTP 503
``busy`` (and Retry-After) at `max_sessions`, while a live session listens
more than `max_lag_ms` behind real time, or past the session count at which
that last happened: past capacity every session would fall behind together.

Auth: when a bearer token is configured (always when binding beyond localhost,
see `WebConfig`), /offer and /ws need ``Authorization: Bearer <token>`` (or
``?token=`` for browsers, which cannot set headers on a WebSocket).

Every session task lives in the `Supervisor`'s TaskGroup, started and stopped
with the app; one session failing is logged with its name and leaves the others
running.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from liveloop.apps.stats import BudgetBoard
from liveloop.apps.voice import AgentStack, VoiceSession
from liveloop.graph.clock import MonotonicClock
from liveloop.rtc.config import RtcConfig
from liveloop.web.admission import Admission, AdmissionConfig
from liveloop.web.ws_codec import AudioIn, MessageIn, ProtocolError, WsCodec, encode_event

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    rtc: RtcConfig = field(default_factory=RtcConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.token is not None and len(self.token) < 8:
            raise ValueError("token must be at least 8 characters")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"binding to {self.host!r} (beyond localhost) needs a bearer token")

    @classmethod
    def secured(cls, host: str, port: int, token: str | None = None, **kw: Any) -> WebConfig:
        """A config that generates a token when one is needed and none was given."""
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(24)
        return cls(host=host, port=port, token=token, **kw)


class Supervisor:
    """Owns the tasks of every session in one TaskGroup for the life of the app."""

    def __init__(self) -> None:
        self._tg: asyncio.TaskGroup | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.failures: list[str] = []

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            self._ready.set()
            await self._stop.wait()
            raise _Stopped

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        if self._tg is None:
            raise RuntimeError("the supervisor is not running (app not started)")
        return self._tg.create_task(self._guard(coro, name), name=name)

    async def _guard(self, coro: Awaitable[None], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one session failing must not end the others
            self.failures.append(f"{name}: {exc!r}")
            log.exception("session task %s failed", name)

    def stop(self) -> None:
        self._stop.set()


class _Stopped(Exception):
    pass


CONFIG_KEY: web.AppKey[WebConfig] = web.AppKey("config")
STACK_KEY: web.AppKey[AgentStack] = web.AppKey("stack")
BOARD_KEY: web.AppKey[BudgetBoard] = web.AppKey("board")
SESSIONS_KEY: web.AppKey[dict[int, VoiceSession]] = web.AppKey("sessions")
SUPERVISOR_KEY: web.AppKey[Supervisor] = web.AppKey("supervisor")
METRICS_TEXT_KEY: web.AppKey[Callable[[], str] | None] = web.AppKey("metrics_text")
CLOCK_KEY: web.AppKey[MonotonicClock] = web.AppKey("clock")
ADMISSION_KEY: web.AppKey[Admission] = web.AppKey("admission")


def create_app(
    config: WebConfig | None = None,
    stack: AgentStack | None = None,
    *,
    metrics_text: Callable[[], str] | None = None,
) -> web.Application:
    config = config or WebConfig()
    app = web.Application(client_max_size=1 << 20)
    app[CONFIG_KEY] = config
    app[STACK_KEY] = stack or AgentStack()
    app[BOARD_KEY] = BudgetBoard()
    app[SESSIONS_KEY] = {}
    app[SUPERVISOR_KEY] = Supervisor()
    app[METRICS_TEXT_KEY] = metrics_text
    app[CLOCK_KEY] = MonotonicClock()
    app[ADMISSION_KEY] = Admission(config.admission)
    app.cleanup_ctx.append(_supervise)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/config", client_config)
    app.router.add_post("/offer", offer)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app


async def _supervise(app: web.Application) -> Any:
    sup: Supervisor = app[SUPERVISOR_KEY]
    runner = asyncio.get_running_loop().create_task(_run_supervisor(sup), name="web.supervisor")
    await sup._ready.wait()
    sup.spawn(_sample_lag(app), "web.admission")
    yield
    sup.stop()
    await runner


async def _run_supervisor(sup: Supervisor) -> None:
    try:
        await sup.run()
    except* _Stopped:
        pass


def _observe_lag(app: web.Application) -> None:
    """Show admission the worst live session's listening lag now."""
    now = app[CLOCK_KEY].now_ns()
    worst, who = 0, None
    for sid, session in list(app[SESSIONS_KEY].items()):
        lag = session.hearing_lag_ns()
        if lag > worst:
            worst, who = lag, sid
    app[ADMISSION_KEY].observe(now, worst, who, live=len(app[SESSIONS_KEY]))


async def _sample_lag(app: web.Application) -> None:
    """A few times a second, so a lag between two connection attempts is not missed (owned by the supervisor)."""
    admission, clock = app[ADMISSION_KEY], app[CLOCK_KEY]
    while True:
        _observe_lag(app)
        await clock.sleep(admission.config.sample_s)


def _refused(app: web.Application) -> web.Response | None:
    """A 503 ``busy`` reply when admission refuses one more session, else None."""
    _observe_lag(app)
    v = app[ADMISSION_KEY].verdict(app[CLOCK_KEY].now_ns(), len(app[SESSIONS_KEY]))
    if v is None:
        return None
    log.warning("refused a session: %s", v.message)
    return web.json_response(v.to_json(), status=503, headers={"Retry-After": str(v.retry_after_s)})


# -- handlers -------------------------------------------------------------------
def authorized(request: web.Request) -> bool:
    """Does the request carry the server's bearer token (header, or ?token=) when one is set?"""
    token = request.app[CONFIG_KEY].token
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


def _unauthorized() -> web.Response:
    return web.json_response(
        {"type": "error", "code": "unauthorized", "message": "missing or wrong bearer token"}, status=401
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def healthz(request: web.Request) -> web.Response:
    sup: Supervisor = request.app[SUPERVISOR_KEY]
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(request.app[SESSIONS_KEY]),
            "session_failures": len(sup.failures),
            "admitting": not request.app[ADMISSION_KEY].behind(request.app[CLOCK_KEY].now_ns()),
            "hearing_lag_ms": request.app[ADMISSION_KEY].lag_ns / 1e6,
            "capabilities": request.app[STACK_KEY].capabilities(),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    from liveloop.apps.stats import graphs_text
    from liveloop.web.metrics import render_metrics

    app = request.app
    sessions = list(app[SESSIONS_KEY].values())
    extra = app[METRICS_TEXT_KEY]

    def graph_text() -> str:
        parts = [graphs_text([s.graph for s in sessions if s.graph is not None])]
        if extra is not None:
            parts.append(extra())
        return "\n".join(p.rstrip("\n") for p in parts if p)

    body = render_metrics(app[BOARD_KEY], len(sessions), graph_text, app[ADMISSION_KEY])
    return web.Response(text=body, content_type="text/plain", charset="utf-8", headers={"X-Content-Version": "0.0.4"})


async def client_config(request: web.Request) -> web.Response:
    body = request.app[CONFIG_KEY].rtc.client_json()
    body["capabilities"] = request.app[STACK_KEY].capabilities()
    return web.json_response(body)


async def offer(request: web.Request) -> web.Response:
    from liveloop.rtc.session import RtcSession, SignallingError, parse_offer
    from liveloop.web.transports import RtcTransport

    if not authorized(request):
        return _unauthorized()
    app = request.app
    if (busy := _refused(app)) is not None:
        return busy
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        return web.json_response(
            {"type": "error", "code": "bad_json", "message": f"offer is not JSON: {exc}"}, status=400
        )
    try:
        desc = parse_offer(body)
    except SignallingError as exc:
        return web.json_response({"type": "error", "code": "bad_offer", "message": str(exc)}, status=400)
    transport = RtcTransport()
    session = VoiceSession(transport, app[STACK_KEY], app[BOARD_KEY], clock=app[CLOCK_KEY])
    rtc = RtcSession(
        session,
        app[CONFIG_KEY].rtc,
        clock=app[CLOCK_KEY],
        name=f"rtc{session.id}",
        on_speech_chunk=transport.on_chunk,
        video=app[STACK_KEY].vision is not None,
    )
    transport.bind(rtc, session)
    try:
        answer = await rtc.accept(desc)
    except SignallingError as exc:
        await rtc.close()
        return web.json_response({"type": "error", "code": "bad_offer", "message": str(exc)}, status=400)
    app[SESSIONS_KEY][session.id] = session

    async def life() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(session.run_until_stopped(), name=f"session{session.id}")
                await rtc.run()
                session.stop()
        finally:
            app[SESSIONS_KEY].pop(session.id, None)

    app[SUPERVISOR_KEY].spawn(life(), f"rtc-session{session.id}")
    return web.json_response({"sdp": answer.sdp, "type": answer.type, "session": session.id})


async def websocket(request: web.Request) -> web.StreamResponse:
    from liveloop.web.transports import WsTransport

    if not authorized(request):
        return _unauthorized()
    app = request.app
    if (busy := _refused(app)) is not None:
        return busy
    ws = web.WebSocketResponse(max_msg_size=1 << 20, heartbeat=30.0)
    await ws.prepare(request)
    clock = app[CLOCK_KEY]
    transport = WsTransport(now_ns=clock.now_ns)
    session = VoiceSession(transport, app[STACK_KEY], app[BOARD_KEY], clock=clock)
    transport.session = session
    codec = WsCodec()
    app[SESSIONS_KEY][session.id] = session
    done = asyncio.Event()

    async def writer() -> None:
        while not ws.closed:
            frame = await transport.next_frame()
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)

    async def reader() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                out = codec.feed(msg.data, clock.now_ns())
                if isinstance(out, AudioIn):
                    session.on_audio(out.frame)
                elif isinstance(out, MessageIn):
                    if out.message["type"] != "hello":
                        session.on_message(out.message)
                elif isinstance(out, ProtocolError):
                    await ws.send_str(encode_event(out.to_json()))
                    if out.fatal:
                        await ws.close(code=1008, message=out.code.encode())
                        break
            elif msg.type == WSMsgType.ERROR:
                break
        done.set()

    async def life() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(session.run_until_stopped(), name=f"ws-session{session.id}"),
                    tg.create_task(writer(), name=f"ws{session.id}.writer"),
                ]
                await reader()
                session.stop()
                for t in tasks:
                    t.cancel()
        finally:
            app[SESSIONS_KEY].pop(session.id, None)

    try:
        await life()
    except* (ConnectionResetError, RuntimeError) as eg:
        log.info("ws session %s ended: %s", session.id, eg.exceptions)
    if not ws.closed:
        await ws.close()
    return ws


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
