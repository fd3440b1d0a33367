"""The /ws API with a real `websockets` client over loopback: conversation, malformed input, auth."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import websockets
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from liveloop.apps.voice import AgentStack
from liveloop.web.app import WebConfig, create_app

TOKEN = "s3cret-token-for-tests"


async def _server(config: WebConfig) -> TestServer:
    srv = TestServer(create_app(config, AgentStack()), host="127.0.0.1", port=0)
    await srv.start_server()
    return srv


@pytest.fixture
async def server():
    srv = await _server(WebConfig(port=0))
    try:
        yield srv
    finally:
        await srv.close()


def ws_url(srv: TestServer) -> str:
    return str(srv.make_url("/ws")).replace("http://", "ws://")


async def next_of(ws, kind: str, timeout: float = 5.0) -> dict:
    async def loop() -> dict:
        while True:
            msg = await ws.recv()
            if isinstance(msg, str):
                ev = json.loads(msg)
                if ev["type"] == kind:
                    return ev

    return await asyncio.wait_for(loop(), timeout)


async def test_conversation_over_ws(server):
    async with websockets.connect(ws_url(server)) as ws:
        hello = await next_of(ws, "hello")
        assert hello["version"] == 1 and set(hello["capabilities"]) == {"asr", "tts", "vision"}
        await ws.send(json.dumps({"type": "hello", "version": 1}))
        await ws.send(json.dumps({"type": "text", "text": "go left"}))
        reply = await next_of(ws, "agent.reply")
        assert reply["intent"] == "move" and reply["goal"] == {"kind": "move", "target": None, "direction": "left"}
        # the session's reply graph runs on the liveloop runtime and is exported at /metrics
        async with ClientSession() as http, http.get(server.make_url("/metrics")) as r:
            text = await r.text()
        assert 'liveloop_node_service_seconds_count{graph="session' in text
        assert 'node="agent"} 1' in text
        pcm = (np.sin(np.arange(320) / 3) * 3000).astype("<i2").tobytes()
        for _ in range(5):
            await ws.send(pcm)  # 16 kHz int16 audio is accepted silently
        await ws.send(json.dumps({"type": "ping", "t": 7}))
        assert (await next_of(ws, "pong"))["t"] == 7


async def test_malformed_frames_get_named_errors_and_other_sessions_carry_on(server):
    async with websockets.connect(ws_url(server)) as bad, websockets.connect(ws_url(server)) as good:
        await next_of(bad, "hello")
        await next_of(good, "hello")
        cases = [
            (b"\x01\x02\x03", "odd_audio_length"),
            ("{nope", "bad_json"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"type": "text", "text": ""}', "bad_text"),
            (b"", "empty_audio"),
        ]
        for frame, code in cases:
            await bad.send(frame)
            err = await next_of(bad, "error")
            assert err["code"] == code and not err["fatal"] and err["message"]
        await good.send(json.dumps({"type": "text", "text": "hello"}))
        assert (await next_of(good, "agent.reply"))["intent"] == "greet"
        await bad.send(json.dumps({"type": "text", "text": "still there?"}))  # the bad client can go on
        assert (await next_of(bad, "agent.reply"))["intent"] == "ack"
        await bad.send(json.dumps({"type": "hello", "version": 2}))
        err = await next_of(bad, "error")
        assert err["code"] == "unsupported_version" and err["fatal"]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(bad.recv(), 5)
        await good.send(json.dumps({"type": "ping", "t": 1}))
        assert (await next_of(good, "pong"))["t"] == 1


async def test_token_is_required_when_configured():
    srv = await _server(WebConfig(port=0, token=TOKEN))
    try:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(ws_url(srv)):
                pass
        assert info.value.response.status_code == 401
        async with websockets.connect(ws_url(srv), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert (await next_of(ws, "hello"))["version"] == 1
        async with websockets.connect(ws_url(srv) + f"?token={TOKEN}") as ws:
            assert (await next_of(ws, "hello"))["version"] == 1
    finally:
        await srv.close()


def test_binding_beyond_localhost_needs_a_token():
    with pytest.raises(ValueError, match="needs a bearer token"):
        WebConfig(host="0.0.0.0")
    assert WebConfig.secured("0.0.0.0", 8080).token
    assert WebConfig.secured("127.0.0.1", 8080).token is None
    with pytest.raises(ValueError, match="port must be"):
        WebConfig(port=70000)
