"""One WebRTC peer connection per session: signalling, media in and out, a data channel.

    browser ──offer──► RtcSession.accept(offer) ──answer──► browser
    mic (Opus)   ─► PacketAudioBuffer ─► MicIngress ─► sink.on_audio(PcmFrame 16 kHz, capture_ns)
    camera (VP8) ─► LastGoodFrame (latest wins, never waits) ─► sink.on_video(frame, capture_ns)
    data channel ◄─► sink.on_message(dict) / send_event(dict)
    agent speech ─► SpeechBuffer ─► PacedAudioTrack (20 ms on the monotonic clock) ─► browser

`RtcSession.run()` is the session's life: it owns every task of the session in a
TaskGroup (one reader per incoming track) and returns when the peer goes away
(connection closed or failed, or `close()`). Signalling is one round trip
(aiortc gathers all candidates before the answer), so no trickle ICE is needed.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import av
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.rtc.audio import MicIngress, PacedAudioTrack, PcmFrame, SpeechBuffer
from liveloop.rtc.config import RtcConfig
from liveloop.rtc.ice import enable_loopback_candidates
from liveloop.rtc.jitter import use_packet_audio_buffers

log = logging.getLogger(__name__)

EVENT_BACKLOG = 256  # events held while the data channel is not open yet (drop-oldest)


class SignallingError(ValueError):
    """The offer from the client is unusable; the message says why."""


class SessionState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"
    FAILED = "failed"


class MediaSink(Protocol):
    """Where a session's incoming media and messages go (the agent, or a test)."""

    def on_audio(self, frame: PcmFrame) -> None: ...

    def on_video(self, frame: av.VideoFrame, capture_ns: int) -> None: ...

    def on_message(self, message: dict[str, Any]) -> None: ...


def parse_offer(body: Any) -> RTCSessionDescription:
    """Validate a JSON offer body ``{"sdp": str, "type": "offer"}``."""
    if not isinstance(body, dict):
        raise SignallingError(f"offer must be a JSON object, got {type(body).__name__}")
    sdp, kind = body.get("sdp"), body.get("type")
    if kind != "offer":
        raise SignallingError(f"offer 'type' must be 'offer', got {kind!r}")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise SignallingError("offer 'sdp' must be an SDP string starting with 'v=0'")
    return RTCSessionDescription(sdp=sdp, type="offer")


class RtcSession:
    """A server-side peer for one client."""

    def __init__(
        self,
        sink: MediaSink,
        config: RtcConfig | None = None,
        *,
        clock: Clock | None = None,
        name: str = "rtc",
        on_speech_chunk: Callable[[Any, int], None] | None = None,
        video: bool = True,
    ) -> None:
        self.config = config or RtcConfig()
        self.video = video  # False: the answer declines the client's camera (no one here would look at it)
        if self.config.loopback_candidates:
            enable_loopback_candidates()
        self.name = name
        self.sink = sink
        self.clock = clock or MonotonicClock()
        self.state = SessionState.NEW
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in self.config.ice_servers
        ]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.speech = SpeechBuffer(self.config.speech_buffer_s)
        self.speech_track = PacedAudioTrack(self.speech, clock=self.clock, on_chunk=on_speech_chunk)
        self.mic = MicIngress()
        self._tracks: list[MediaStreamTrack] = []
        self._channel: Any = None
        self._backlog: deque[str] = deque(maxlen=EVENT_BACKLOG)
        self._closed = asyncio.Event()
        self._closing = False
        self.events_dropped = 0
        self.video_frames = 0
        self.audio_frames = 0
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)

    # -- signalling ------------------------------------------------------
    async def accept(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Answer the client's offer. Adds the agent's speech track to the client's audio transceiver.

        Without `video`, video is answered inactive: the browser neither encodes nor sends its camera,
        and the server does not decode it (on a small machine that is CPU the speech path needs).
        """
        self.state = SessionState.CONNECTING
        try:
            await self.pc.setRemoteDescription(offer)
            use_packet_audio_buffers(self.pc)  # the user's voice as it arrives, not 80 ms later (rtc/jitter.py)
            audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
            if audio:
                audio[0].sender.replaceTrack(self.speech_track)
                audio[0].direction = "sendrecv"
            else:
                self.pc.addTrack(self.speech_track)
            if not self.video:
                for t in self.pc.getTransceivers():
                    if t.kind == "video":
                        t.direction = "inactive"
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except (ValueError, AttributeError, KeyError, IndexError, TypeError) as exc:  # aiortc's errors on bad SDP
            self.state = SessionState.FAILED
            raise SignallingError(f"cannot use the offer's SDP: {exc!r}") from exc
        return self.pc.localDescription

    # -- events to the client -------------------------------------------
    def send_event(self, event: dict[str, Any]) -> None:
        """Send one JSON event on the data channel (held, bounded, until it opens)."""
        text = json.dumps(event, separators=(",", ":"))
        ch = self._channel
        if ch is not None and ch.readyState == "open":
            while self._backlog:
                ch.send(self._backlog.popleft())
            ch.send(text)
        else:
            if len(self._backlog) == self._backlog.maxlen:
                self.events_dropped += 1
            self._backlog.append(text)

    # -- life --------------------------------------------------------------
    async def run(self) -> None:
        """Read every incoming track until the peer goes away; owns the session's tasks."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = []
                for track in self._tracks:
                    if track.kind == "audio":
                        tasks.append(tg.create_task(self._read_audio(track), name=f"{self.name}.audio_in"))
                    elif track.kind == "video":
                        tasks.append(tg.create_task(self._read_video(track), name=f"{self.name}.video_in"))
                tasks.append(tg.create_task(self._connect_deadline(), name=f"{self.name}.connect_deadline"))
                await self._closed.wait()
                for task in tasks:  # a reader blocked in recv() would only wake when the peer closes
                    task.cancel()
                for track in self._tracks:
                    track.stop()
        finally:
            await self.close()

    async def _connect_deadline(self) -> None:
        await self.clock.sleep(self.config.connect_timeout_s)
        if self.state is not SessionState.CONNECTED:
            log.warning("%s: peer did not connect within %.0f s; closing", self.name, self.config.connect_timeout_s)
            self.state = SessionState.FAILED
            self._closed.set()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self.state is not SessionState.FAILED:
            self.state = SessionState.CLOSED
        self._closed.set()
        self.speech_track.stop()
        await asyncio.shield(self.pc.close())  # aiortc may be closing itself: never cancel its future

    # -- callbacks ---------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tracks.append(track)

    def _on_datachannel(self, channel: Any) -> None:
        self._channel = channel

        @channel.on("open")
        def _open() -> None:
            while self._backlog:
                channel.send(self._backlog.popleft())

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            try:
                data = json.loads(message)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                self.send_event({"type": "error", "code": "bad_message", "message": f"data channel: {exc}"})
                return
            self.sink.on_message(data)

        if channel.readyState == "open":
            _open()

    def _on_state(self) -> None:
        st = self.pc.connectionState
        if st == "connected":
            self.state = SessionState.CONNECTED
        elif st in ("failed", "closed"):
            self.state = SessionState.FAILED if st == "failed" else SessionState.CLOSED
            self._closed.set()

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.audio_frames += 1
            for pcm in self.mic.feed(frame, self.clock.now_ns()):
                self.sink.on_audio(pcm)

    async def _read_video(self, track: MediaStreamTrack) -> None:
        from liveloop.rtc.clock_sync import OffsetConfig, OffsetEstimator

        offset = OffsetEstimator(OffsetConfig(clock_rate_hz=90_000))
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.video_frames += 1
            now = self.clock.now_ns()
            capture_ns = offset.feed(frame.pts % (1 << 32), now) if frame.pts is not None else now
            self.sink.on_video(frame, capture_ns)
