"""The `/ws` WebSocket protocol, sans-I/O (schema: liveloop/web/WS_API.md).

Frames in (client → server)::

    binary   16 kHz mono int16 little-endian PCM, 10–1000 ms per frame (even byte count)
    text     one JSON object with a "type": hello | text | interrupt | ping | tracks

Frames out (server → client)::

    text     JSON events (hello, transcript, utterance.end, agent.token, agent.reply, caption,
             audio.start, audio.flush, budgets, pong, error)
    binary   agent speech, 16 kHz mono int16 little-endian PCM

`WsCodec.feed(frame, now_ns) -> Inbound` never raises on bad input: it returns
a `ProtocolError` naming the fault (``code`` + ``message``); ``fatal`` says the
connection cannot go on (a protocol version we do not speak, or too many errors
in a row). The asyncio handler in `liveloop.web.app` only moves bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveloop.rtc.audio import ASR_RATE_HZ, PcmFrame
from liveloop.rtc.clock_sync import OffsetConfig, OffsetEstimator

WS_API_VERSION = 1
MIN_FRAME_BYTES = 2
MAX_FRAME_BYTES = ASR_RATE_HZ * 2  # one second of int16 audio
MAX_TEXT_CHARS = 64_000
MAX_ERRORS_IN_A_ROW = 20
CLIENT_TYPES = frozenset({"hello", "text", "interrupt", "ping", "tracks"})


@dataclass(frozen=True, slots=True)
class AudioIn:
    frame: PcmFrame


@dataclass(frozen=True, slots=True)
class MessageIn:
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProtocolError:
    code: str
    message: str
    fatal: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message, "fatal": self.fatal}


Inbound = AudioIn | MessageIn | ProtocolError


# A frame this far behind where the stream's clock puts it: the client paused (or the server stalled that
# long); anchor anew on its arrival. Below the session's silence fill (100 ms without audio), so audio
# after a pause is never placed inside silence that was filled in meanwhile (it would be dropped as late).
RESYNC_NS = 80_000_000


class StreamStamps:
    """Capture times of audio a client streams in real time (sans-I/O).

    A frame that arrives at `now` was captured by ``now - duration`` at the latest; but when the
    server reads late (its event loop busy), frames arrive late and in bursts, and stamping each
    with its own arrival puts the end of the user's speech late by the stall. The stream's sample
    count is the client's clock: the earliest arrival relative to the position in the stream
    (`OffsetEstimator`'s sliding minimum, as for RTP) anchors every frame. A frame more than
    `RESYNC_NS` late for its place (the client paused) starts a new anchor.
    """

    __slots__ = ("_est", "_pos")

    def __init__(self) -> None:
        self._est = OffsetEstimator(OffsetConfig(clock_rate_hz=ASR_RATE_HZ))
        self._pos = 0  # samples received so far

    def stamp(self, n_samples: int, arrival_ns: int) -> int:
        """Capture time of the first of `n_samples` that arrived at `arrival_ns`."""
        self._pos += n_samples
        duration_ns = n_samples * 1_000_000_000 // ASR_RATE_HZ
        anchor = self._est.offset_ns
        end_ns = self._est.feed(self._pos % (1 << 32), arrival_ns)
        if anchor is not None and arrival_ns - end_ns > RESYNC_NS:  # far behind the anchor: start over
            self._est = OffsetEstimator(OffsetConfig(clock_rate_hz=ASR_RATE_HZ))
            end_ns = self._est.feed(self._pos % (1 << 32), arrival_ns)
        return end_ns - duration_ns


class WsCodec:
    """One connection's protocol state."""

    __slots__ = ("errors", "errors_in_a_row", "frames", "samples_in", "stamps", "version")

    def __init__(self) -> None:
        self.errors_in_a_row = 0
        self.errors = 0
        self.frames = 0
        self.samples_in = 0
        self.version = WS_API_VERSION
        self.stamps = StreamStamps()

    def feed(self, frame: bytes | str, now_ns: int) -> Inbound:
        self.frames += 1
        out = self._binary(frame, now_ns) if isinstance(frame, bytes | bytearray) else self._text(frame)
        if isinstance(out, ProtocolError):
            self.errors += 1
            self.errors_in_a_row += 1
            if self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW and not out.fatal:
                return ProtocolError(out.code, f"{out.message} ({self.errors_in_a_row} bad frames in a row)", True)
        else:
            self.errors_in_a_row = 0
        return out

    def _binary(self, data: bytes | bytearray, now_ns: int) -> Inbound:
        n = len(data)
        if n < MIN_FRAME_BYTES:
            return ProtocolError("empty_audio", f"binary frame has {n} bytes; audio frames need at least one sample")
        if n % 2:
            return ProtocolError("odd_audio_length", f"binary frame has {n} bytes; int16 PCM needs an even count")
        if n > MAX_FRAME_BYTES:
            return ProtocolError(
                "audio_frame_too_long", f"binary frame has {n} bytes; at most {MAX_FRAME_BYTES} (1 s at 16 kHz int16)"
            )
        samples = np.frombuffer(bytes(data), dtype="<i2").astype(np.float32) / 32768.0
        self.samples_in += len(samples)
        return AudioIn(PcmFrame(samples, ASR_RATE_HZ, self.stamps.stamp(len(samples), now_ns)))

    def _text(self, text: str) -> Inbound:
        if len(text) > MAX_TEXT_CHARS:
            return ProtocolError("message_too_long", f"text frame has {len(text)} chars; at most {MAX_TEXT_CHARS}")
        try:
            msg = json.loads(text)
        except ValueError as exc:
            return ProtocolError("bad_json", f"text frame is not JSON: {exc}")
        if not isinstance(msg, dict):
            return ProtocolError("not_an_object", f"text frame must be a JSON object, got {type(msg).__name__}")
        kind = msg.get("type")
        if not isinstance(kind, str):
            return ProtocolError("missing_type", "JSON message needs a string 'type'")
        if kind not in CLIENT_TYPES:
            return ProtocolError(
                "unknown_type", f"unknown message type {kind!r}; expected one of {sorted(CLIENT_TYPES)}"
            )
        if kind == "hello":
            version = msg.get("version", WS_API_VERSION)
            if version != WS_API_VERSION:
                return ProtocolError(
                    "unsupported_version", f"this server speaks WS API version {WS_API_VERSION}, got {version!r}", True
                )
        if kind == "text" and (not isinstance(msg.get("text"), str) or not msg["text"].strip()):
            return ProtocolError("bad_text", "'text' message needs a non-empty string field 'text'")
        return MessageIn(msg)


def encode_event(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def encode_audio(samples: np.ndarray) -> bytes:
    """Float32 (or int16) mono samples at 16 kHz → int16 little-endian bytes."""
    if samples.dtype == np.int16:
        return samples.astype("<i2").tobytes()
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
