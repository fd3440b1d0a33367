"""Run the web app until interrupted; print the URL it serves on."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from liveloop.rtc.config import RtcConfig
from liveloop.web.admission import AdmissionConfig
from liveloop.web.app import BOARD_KEY, WebConfig, create_app


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    token: str | None = None,
    asr: bool = True,
    tts: bool = True,
    vision: bool = True,
    tts_cache: bool = True,
    admission: AdmissionConfig | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    from liveloop.apps.stack import load_stack

    config = WebConfig.secured(host, port, token, rtc=RtcConfig.from_env(), admission=admission or AdmissionConfig())
    print("liveloop serve: loading the speech and vision models (once per process)…", file=sys.stderr, flush=True)
    stack = load_stack(asr=asr, tts=tts, vision=vision, tts_cache=tts_cache)
    app = create_app(config, stack)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port  # type: ignore[union-attr]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{bound}/"
    if config.token:
        url += f"#token={config.token}"
    for part, note in stack.notes.items():
        print(f"liveloop serve: {part}: {note}", file=sys.stderr)
    print(f"liveloop serve: open {url}", flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        print("liveloop serve: latency over every session (the session graphs' budgets)", file=sys.stderr)
        print(app[BOARD_KEY].table(), file=sys.stderr, flush=True)
