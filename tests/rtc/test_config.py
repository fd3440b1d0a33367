"""ICE servers (STUN/TURN) from config and environment; loopback host candidates."""

from __future__ import annotations

import aioice.ice
import pytest

from liveloop.rtc.config import IceServer, RtcConfig
from liveloop.rtc.ice import enable_loopback_candidates, loopback_candidates_enabled


def test_ice_servers_from_env_and_for_the_browser():
    cfg = RtcConfig.from_env(
        {
            "LIVELOOP_STUN": "stun:stun.example.org:3478",
            "LIVELOOP_TURN": "turn:turn.example.org:3478",
            "LIVELOOP_TURN_USERNAME": "u",
            "LIVELOOP_TURN_PASSWORD": "p",
        }
    )
    assert [s.urls for s in cfg.ice_servers] == ["stun:stun.example.org:3478", "turn:turn.example.org:3478"]
    assert cfg.client_json()["iceServers"][1] == {
        "urls": "turn:turn.example.org:3478",
        "username": "u",
        "credential": "p",
    }
    assert RtcConfig.from_env({}).ice_servers == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"urls": "http://x"}, "must start with stun:"), ({"urls": "turn:x:3478"}, "needs a username")],
)
def test_bad_ice_servers_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IceServer(**kwargs)


def test_media_limits_are_validated():
    with pytest.raises(ValueError, match="video_max_bitrate_bps must be"):
        RtcConfig(video_max_bitrate_bps=10)
    with pytest.raises(ValueError, match="video_min_fps <= video_max_fps"):
        RtcConfig(video_min_fps=30, video_max_fps=10)


def test_loopback_is_added_to_host_candidates():
    enable_loopback_candidates()
    enable_loopback_candidates()  # idempotent
    assert loopback_candidates_enabled()
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert addresses.count("127.0.0.1") == 1


async def test_a_peer_that_never_connects_is_closed():
    import asyncio

    from aiortc import RTCPeerConnection

    from liveloop.rtc.session import RtcSession, SessionState

    class Sink:
        def on_audio(self, frame): ...
        def on_video(self, frame, capture_ns): ...
        def on_message(self, message): ...

    client = RTCPeerConnection()
    client.addTransceiver("audio")
    await client.setLocalDescription(await client.createOffer())
    session = RtcSession(Sink(), RtcConfig(connect_timeout_s=0.5))
    try:
        await session.accept(client.localDescription)
        await client.close()  # the client goes away before ICE completes
        await asyncio.wait_for(session.run(), 30)  # returns once the 0.5 s deadline passed
        assert session.state in (SessionState.FAILED, SessionState.CLOSED)
    finally:
        await session.close()
