"""The voice session with a recording transport: typed turns, barge-in, first-audio timing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from liveloop.apps.stats import BudgetBoard
from liveloop.apps.voice import TURN_AUDIO, AgentStack, SpeechSink, TranscriptEvent, TranscriptKind, VoiceSession
from liveloop.graph.clock import NS_PER_MS, VirtualClock
from liveloop.rtc.audio import PcmFrame


class RecordingTransport:
    """A transport that records what the session sends (the real ones are tested in tests/web)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.speech: list[np.ndarray] = []
        self.flushed = 0

    def send_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        self.speech.append(samples)

    def mark(self, payload: dict[str, Any]) -> None:
        self.events.append(payload)

    def flush_speech(self) -> int:
        n = sum(len(s) for s in self.speech)
        self.speech.clear()
        self.flushed += 1
        return n

    def speech_pending(self) -> bool:
        return bool(self.speech)


class ScriptedRecognizer:
    """Stands in for VAD + Whisper (tested in tests/apps/test_speech.py): scripted transcript events.

    A frame whose samples are all ``k / 100`` triggers ``script[k]``; silence (the session's gap
    filling) triggers nothing.
    """

    def __init__(self, script: dict[int, list[TranscriptEvent]]) -> None:
        self.script = script

    def feed(self, frame: PcmFrame) -> list[TranscriptEvent]:
        out: list[TranscriptEvent] = []
        for k in sorted({round(float(v) * 100) for v in np.unique(frame.samples)} - {0}):
            out += self.script.get(k, [])
        return out


def marker(k: int, at_ns: int) -> PcmFrame:
    return PcmFrame(np.full(320, k / 100, np.float32), 16_000, at_ns)


class SlowSpeaker:
    """Stands in for Piper (tested in tests/apps/test_speech.py): says the first token, then holds until interrupted."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.interrupted = 0
        self.first_audio_ms = None
        self._stop = asyncio.Event()

    async def speak(self, tokens: Sequence[str], sink: SpeechSink) -> None:
        sink.mark({"text": tokens[0]})
        sink.push_speech(np.full(960, 1000, np.int16), 48_000)
        await self._stop.wait()

    def interrupt(self) -> None:
        self.interrupted += 1
        self._stop.set()


async def _run(session: VoiceSession, until) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(session.run_until_stopped())
        async with asyncio.timeout(60):  # a bound for a stuck test, not a timing assertion
            while not until():
                await asyncio.sleep(0.001)
        session.stop()


async def test_typed_turn_streams_tokens_and_reply():
    t = RecordingTransport()
    s = VoiceSession(t, AgentStack(), BudgetBoard())
    s.on_message({"type": "text", "text": "hello"})
    s.on_message({"type": "bogus"})
    await _run(s, lambda: any(e["type"] == "agent.reply" for e in t.events))
    kinds = [e["type"] for e in t.events]
    assert "hello" in kinds and "agent.reply" in kinds
    assert any(e["type"] == "error" and e["code"] == "unknown_type" for e in t.events)
    tokens = "".join(e["text"] for e in t.events if e["type"] == "agent.token")
    assert tokens == next(e["text"] for e in t.events if e["type"] == "agent.reply")
    # no TTS: captions follow the tokens at once
    assert "".join(e["text"] for e in t.events if e["type"] == "caption") == tokens


async def test_spoken_turn_voice_to_voice_and_barge_in():
    clock = VirtualClock(start_ns=10_000 * NS_PER_MS)
    end_ns = clock.now_ns() - 120 * NS_PER_MS  # the user stopped speaking 120 ms ago
    rec = ScriptedRecognizer(
        {
            1: [TranscriptEvent(TranscriptKind.PARTIAL, "what do", end_ns - 200 * NS_PER_MS)],
            2: [
                TranscriptEvent(TranscriptKind.COMMITTED, "what do you see", end_ns),
                TranscriptEvent(TranscriptKind.END_OF_UTTERANCE, "what do you see", end_ns),
            ],
        }
    )
    speaker = SlowSpeaker(clock)
    t = RecordingTransport()
    board = BudgetBoard()
    s = VoiceSession(t, AgentStack(recognizer=lambda: rec, speaker=lambda: speaker), board, clock=clock)
    s.on_audio(marker(1, clock.now_ns() - 40 * NS_PER_MS))
    s.on_audio(marker(2, clock.now_ns() - 20 * NS_PER_MS))

    async def first_audio_then_barge_in() -> None:
        while not t.speech:
            await asyncio.sleep(0)
        marker_ev = next(e for e in t.events if e.get("type") == TURN_AUDIO)
        s.on_turn_audio(marker_ev["turn"], clock.now_ns())  # what the egress reports for the first sample
        s.on_turn_audio(marker_ev["turn"], clock.now_ns())  # reported once per turn
        rec.script[3] = [TranscriptEvent(TranscriptKind.SPEECH_START, at_ns=clock.now_ns() - 10 * NS_PER_MS)]
        s.on_audio(marker(3, clock.now_ns()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(first_audio_then_barge_in())
        await _run(s, lambda: any(e["type"] == "audio.flush" for e in t.events))
    kinds = [e["type"] for e in t.events]
    assert "transcript" in kinds and "utterance.end" in kinds and "audio.start" in kinds
    start = next(e for e in t.events if e["type"] == "audio.start")
    # virtual clock: 120 ms had passed at the end of the utterance; it only moves on when every task waits
    assert start["voice_to_voice_ms"] >= 120.0
    assert set(start["stages"]) >= {"responder_ms", "tts_first_audio_ms", "egress_ms"}
    assert speaker.interrupted == 1 and t.flushed == 1
    flush = next(e for e in t.events if e["type"] == "audio.flush")
    assert flush["reason"] == "barge_in"
    stats = {b["name"]: b for b in board.to_json()["budgets"]}
    assert stats["voice_to_voice"]["count"] == 1 and stats["barge_in"]["count"] == 1
    assert stats["barge_in"]["p50_ms"] >= 10.0
    assert stats["mic_to_text"]["count"] == 2
    reply = next(e for e in t.events if e["type"] == "agent.reply")
    assert reply["intent"] == "vision"
