"""Adapters that let a `VoiceSession` speak over WebRTC or over the `/ws` WebSocket."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import numpy as np

from liveloop.apps.voice import TURN_AUDIO
from liveloop.rtc.audio import ASR_RATE_HZ, RTC_RATE_HZ, Chunk, Resampler
from liveloop.rtc.session import RtcSession
from liveloop.web.ws_codec import encode_audio, encode_event

WS_OUT_QUEUE = 512  # outbound frames per WebSocket client (events + 20 ms audio chunks), drop-oldest


class RtcTransport:
    """`Transport` over a peer connection: events on the data channel, speech on the paced track."""

    def __init__(self) -> None:
        self.rtc: RtcSession | None = None
        self.session: Any = None  # the VoiceSession, bound after both exist
        self._resampler = Resampler(RTC_RATE_HZ)

    def bind(self, rtc: RtcSession, session: Any) -> None:
        self.rtc, self.session = rtc, session

    def send_event(self, event: dict[str, Any]) -> None:
        assert self.rtc is not None
        self.rtc.send_event(event)

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        assert self.rtc is not None
        self.rtc.speech.push(self._resampler.feed(samples, rate_hz))

    def mark(self, payload: dict[str, Any]) -> None:
        assert self.rtc is not None
        self.rtc.speech.mark(payload)

    def flush_speech(self) -> int:
        assert self.rtc is not None
        return self.rtc.speech.flush()

    def speech_pending(self) -> bool:
        return self.rtc is not None and len(self.rtc.speech) > 0

    def on_chunk(self, chunk: Chunk, sent_ns: int) -> None:
        """Called by the paced track for each 20 ms frame that carries speech or marks."""
        for payload in chunk.marks:
            if payload.get("type") == TURN_AUDIO:
                if self.session is not None:
                    self.session.on_turn_audio(payload["turn"], sent_ns)
            else:
                self.send_event(payload)


class WsTransport:
    """`Transport` over a WebSocket: JSON events and binary 16 kHz int16 speech, one bounded queue.

    Speech and caption marks share the queue, so a caption is written right after the audio it
    belongs to. Overflow policy: drop-oldest (a client that stops reading loses old frames, the
    server never grows memory); drops are counted.
    """

    def __init__(self, *, now_ns: Any) -> None:
        self._out: deque[str | bytes | int] = deque(maxlen=WS_OUT_QUEUE)  # int: a turn's first-audio marker
        self._wake = asyncio.Event()
        self._resampler = Resampler(ASR_RATE_HZ)
        self._now_ns = now_ns
        self.session: Any = None
        self.dropped = 0
        self._turn_starting: int | None = None
        self._play_until_ns = 0  # when the client will have played all the speech sent so far

    def _put(self, item: str | bytes | int) -> None:
        if len(self._out) == self._out.maxlen:
            self.dropped += 1
        self._out.append(item)
        self._wake.set()

    def send_event(self, event: dict[str, Any]) -> None:
        self._put(encode_event(event))

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        pcm = self._resampler.feed(samples, rate_hz)
        if len(pcm):
            self._put(encode_audio(pcm))

    def mark(self, payload: dict[str, Any]) -> None:
        self._put(payload["turn"] if payload.get("type") == TURN_AUDIO else encode_event(payload))

    def flush_speech(self) -> int:
        dropped = 0
        kept: deque[str | bytes | int] = deque(maxlen=WS_OUT_QUEUE)
        for item in self._out:
            if isinstance(item, bytes):
                dropped += len(item) // 2
            elif isinstance(item, str):
                kept.append(item)
        self._out = kept
        self._turn_starting = None
        self._play_until_ns = 0  # the client discards its queue on audio.flush
        return dropped

    def speech_pending(self) -> bool:
        return any(isinstance(i, bytes) for i in self._out) or self._now_ns() < self._play_until_ns

    async def next_frame(self) -> str | bytes:
        while True:
            while not self._out:
                self._wake.clear()
                await self._wake.wait()
            item = self._out.popleft()
            if isinstance(item, int):  # a turn's first audio comes next (internal, not sent)
                self._turn_starting = item
                continue
            if isinstance(item, bytes):
                now = self._now_ns()
                self._play_until_ns = max(self._play_until_ns, now) + len(item) // 2 * 1_000_000_000 // ASR_RATE_HZ
                if self._turn_starting is not None and self.session is not None:
                    self.session.on_turn_audio(self._turn_starting, now)
                    self._turn_starting = None
            return item
