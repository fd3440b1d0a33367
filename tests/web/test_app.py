"""The web app, driven by real clients: aiohttp over loopback and a real aiortc peer."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from liveloop.apps.voice import AgentStack
from liveloop.web.app import WebConfig, create_app


@pytest.fixture
async def server():
    app = create_app(WebConfig(port=0), AgentStack())
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


async def test_healthz_and_metrics(server):
    async with ClientSession() as http:
        async with http.get(server.make_url("/healthz")) as r:
            assert r.status == 200
            body = await r.json()
            assert body["status"] == "ok" and body["sessions"] == 0
        async with http.get(server.make_url("/metrics")) as r:
            text = await r.text()
            assert r.status == 200
            assert "liveloop_sessions 0" in text
            assert 'liveloop_session_budget_misses_total{budget="voice_to_voice"} 0' in text
            assert "process_" in text or "python_gc" in text


async def test_static_client_is_served(server):
    async with ClientSession() as http:
        async with http.get(server.make_url("/")) as r:
            assert "liveloop" in await r.text()
        for path in ("/static/app.js", "/static/style.css"):
            async with http.get(server.make_url(path)) as r:
                assert r.status == 200, path


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ("not json", "not JSON"),
        ('{"type": "answer", "sdp": "v=0"}', "'type' must be 'offer'"),
        ('{"type": "offer", "sdp": 3}', "'sdp' must be"),
        ('{"type": "offer", "sdp": "v=0\\r\\nnonsense"}', "SDP"),
    ],
)
async def test_bad_offers_are_named(server, body, fault):
    async with ClientSession() as http, http.post(server.make_url("/offer"), data=body) as r:
        assert r.status == 400
        err = await r.json()
        assert err["type"] == "error" and fault in err["message"]


async def test_offer_from_a_real_aiortc_peer_gets_agent_events(server):
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())  # aiortc's silence source as the microphone
    got: list[dict] = []
    opened = asyncio.Event()
    reply_done = asyncio.Event()
    remote_audio: list[object] = []
    dc = pc.createDataChannel("events")
    dc.on("open", opened.set)

    @dc.on("message")
    def _on(msg: str) -> None:
        ev = json.loads(msg)
        got.append(ev)
        if ev["type"] == "agent.reply":
            reply_done.set()

    @pc.on("track")
    def _track(track) -> None:
        remote_audio.append(track)

    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with (
            ClientSession() as http,
            http.post(server.make_url("/offer"), json={"sdp": pc.localDescription.sdp, "type": "offer"}) as r,
        ):
            assert r.status == 200, await r.text()
            answer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(opened.wait(), 10)
        dc.send(json.dumps({"type": "text", "text": "hello there"}))
        await asyncio.wait_for(reply_done.wait(), 10)
        types = [e["type"] for e in got]
        assert types[0] == "hello" and got[0]["version"] == 1
        reply = next(e for e in got if e["type"] == "agent.reply")
        assert reply["intent"] == "greet"
        tokens = "".join(e["text"] for e in got if e["type"] == "agent.token" and e["turn"] == reply["turn"])
        assert tokens == reply["text"]
        # the server's paced speech track reached us: 20 ms frames at 48 kHz
        assert remote_audio and remote_audio[0].kind == "audio"
        frame = await asyncio.wait_for(remote_audio[0].recv(), 5)
        assert frame.sample_rate == 48000 and np.asarray(frame.to_ndarray()).size >= 960
        dc.send("{broken")
        await asyncio.sleep(0.3)
        assert any(e["type"] == "error" and e["code"] == "bad_message" for e in got)
    finally:
        await pc.close()
