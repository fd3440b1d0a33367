"""WebRTC session configuration: ICE servers (STUN/TURN) and media limits.

`RtcConfig` is frozen and validated at construction. ICE servers can also come
from the environment (``LIVELOOP_STUN``, ``LIVELOOP_TURN``, ``LIVELOOP_TURN_USERNAME``,
``LIVELOOP_TURN_PASSWORD``) through `RtcConfig.from_env`, so a deployment beyond
one machine needs no code change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server (the browser's RTCIceServer shape)."""

    urls: str
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not self.urls.startswith(("stun:", "turn:", "turns:")):
            raise ValueError(f"ICE server url must start with stun:, turn: or turns:, got {self.urls!r}")
        if self.urls.startswith(("turn:", "turns:")) and not (self.username and self.credential):
            raise ValueError(f"TURN server {self.urls!r} needs a username and a credential")

    def to_json(self) -> dict[str, str]:
        out = {"urls": self.urls}
        if self.username:
            out["username"] = self.username
        if self.credential:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True, slots=True)
class RtcConfig:
    """What every peer connection of a server uses.

    ice_servers           STUN/TURN servers, given to aiortc and to the browser
    loopback_candidates   also offer 127.0.0.1 as an ICE host candidate (aioice leaves it out;
                          a machine with only loopback needs it)
    video_max_bitrate_bps the cap the browser applies to its camera sender (setParameters)
    video_max_fps         highest frame rate the adaptive sender may pick
    video_min_fps         lowest frame rate it may fall to
    speech_buffer_s       how much agent speech the egress track may hold (bounded)
    connect_timeout_s     a peer that has not connected by then is closed (no session leaks)
    """

    ice_servers: tuple[IceServer, ...] = ()
    loopback_candidates: bool = True
    video_max_bitrate_bps: int = 400_000
    video_max_fps: float = 30.0
    video_min_fps: float = 5.0
    speech_buffer_s: float = 30.0
    connect_timeout_s: float = 30.0
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.video_max_bitrate_bps < 50_000:
            raise ValueError(f"video_max_bitrate_bps must be >= 50000, got {self.video_max_bitrate_bps}")
        if not 0 < self.video_min_fps <= self.video_max_fps <= 120:
            raise ValueError(
                f"need 0 < video_min_fps <= video_max_fps <= 120, got {self.video_min_fps} and {self.video_max_fps}"
            )
        if self.connect_timeout_s <= 0:
            raise ValueError(f"connect_timeout_s must be > 0, got {self.connect_timeout_s}")
        if self.speech_buffer_s <= 0:
            raise ValueError(f"speech_buffer_s must be > 0, got {self.speech_buffer_s}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RtcConfig:
        env = os.environ if env is None else env
        servers: list[IceServer] = []
        for url in filter(None, (u.strip() for u in env.get("LIVELOOP_STUN", "").split(","))):
            servers.append(IceServer(url))
        for url in filter(None, (u.strip() for u in env.get("LIVELOOP_TURN", "").split(","))):
            servers.append(IceServer(url, env.get("LIVELOOP_TURN_USERNAME"), env.get("LIVELOOP_TURN_PASSWORD")))
        return cls(ice_servers=tuple(servers))

    def client_json(self) -> dict[str, object]:
        """What the browser needs to know (served at /config)."""
        return {
            "iceServers": [s.to_json() for s in self.ice_servers],
            "videoMaxBitrateBps": self.video_max_bitrate_bps,
            "videoMaxFps": self.video_max_fps,
        }
