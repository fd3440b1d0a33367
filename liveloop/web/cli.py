"""`liveloop serve`: the voice agent with its browser client and WebSocket API."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the voice agent: browser client, WebRTC, /ws API, /metrics")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; beyond it a token is required)"
    )
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--token", default=None, help="bearer token (default: LIVELOOP_TOKEN, generated when binding beyond localhost)"
    )
    p.add_argument("--no-asr", action="store_true", help="do not load speech recognition")
    p.add_argument("--no-tts", action="store_true", help="do not load speech synthesis")
    p.add_argument("--no-vision", action="store_true", help="do not track objects in the camera")
    p.add_argument(
        "--no-tts-cache", action="store_true", help="synthesize every span (no replay of the replies' opening words)"
    )
    p.add_argument(
        "--max-sessions", type=int, default=16, help="refuse sessions beyond this many (503 busy; default 16)"
    )
    p.add_argument(
        "--max-lag-ms",
        type=float,
        default=750.0,
        help="refuse new sessions while a live one listens this far behind real time (default 750; 0: off)",
    )
    p.add_argument(
        "--capacity-probe-s",
        type=float,
        default=60.0,
        help="after the lag limit is crossed with N sessions, admit at most N-1, one more every this many seconds "
        "without another crossing (default 60; 0: learn no cap)",
    )
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import os

    from liveloop.web.admission import AdmissionConfig
    from liveloop.web.server import serve

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or os.environ.get("LIVELOOP_TOKEN") or None
    try:
        admission = AdmissionConfig(
            max_sessions=args.max_sessions, max_lag_ms=args.max_lag_ms or None, probe_s=args.capacity_probe_s or None
        )
    except ValueError as exc:
        raise SystemExit(f"liveloop serve: {exc}") from exc
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.host,
                args.port,
                token=token,
                asr=not args.no_asr,
                tts=not args.no_tts,
                vision=not args.no_vision,
                tts_cache=not args.no_tts_cache,
                admission=admission,
            )
        )
    return 0
