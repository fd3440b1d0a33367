"""The voice session as one graph, with scripted VAD, recognizer and voice on a virtual clock.

The real models are exercised in tests/apps/test_speech.py and tests/e2e; here the
parts are stand-ins so that turn-taking, speculation, barge-in and the budgets are
checked exactly: virtual time only moves when every task waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.agent.responder import Goal, GoalKind
from liveloop.apps.egress import TURN_AUDIO
from liveloop.apps.reply import SpeechSink
from liveloop.apps.stats import BudgetBoard
from liveloop.apps.turns import EndpointConfig
from liveloop.apps.voice import AgentStack, VoiceSession
from liveloop.graph.clock import NS_PER_MS, VirtualClock
from liveloop.rtc.audio import PcmFrame

MS = NS_PER_MS
LOUD = 0.2  # speech in the scripted microphone; silence is zeros


class RecordingTransport:
    """Records what the session sends; reports a turn's first sample as sent the moment it is pushed."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.session: VoiceSession | None = None
        self.events: list[dict[str, Any]] = []
        self.speech: list[np.ndarray] = []
        self.flushed = 0
        self._starting: int | None = None

    def send_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        self.speech.append(samples)
        if self._starting is not None and self.session is not None:
            self.session.on_turn_audio(self._starting, self.clock.now_ns())
            self._starting = None

    def mark(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == TURN_AUDIO:
            self._starting = payload["turn"]
        else:
            self.events.append(payload)

    def flush_speech(self) -> int:
        n = sum(len(s) for s in self.speech)
        self.speech.clear()
        self.flushed += 1
        return n

    def speech_pending(self) -> bool:
        return bool(self.speech)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]


def vad(frame: np.ndarray) -> float:
    return 0.95 if np.abs(frame).max() > LOUD / 2 else 0.02


@dataclass
class Word:
    word: str


@dataclass
class Update:
    words: tuple[Word, ...] = ()
    partial: str = ""
    final: bool = False


@dataclass
class ScriptedRecognizer:
    """Hears `text` in whatever audio it is fed; counts what it was asked to do."""

    text: str
    fed_samples: int = 0
    segments: int = 0
    feeds: list[int] = field(default_factory=list)
    speech_flags: list[bool] = field(default_factory=list)

    def feed(self, samples: np.ndarray) -> list[Update]:
        self.fed_samples += len(samples)
        self.feeds.append(len(samples))
        return [Update(partial=self.text.split()[0])]

    def end_segment(self, speech: bool = False) -> list[Update]:
        self.segments += 1
        self.speech_flags.append(speech)
        return [Update(words=tuple(Word(" " + w) for w in self.text.split()), final=True)]


class FakeVoice:
    """Says each token as 20 ms of audio at 48 kHz; `hold=True` keeps talking until interrupted."""

    def __init__(self, clock: VirtualClock, *, hold: bool = False, cost_s: float = 0.05) -> None:
        self.clock, self.hold, self.cost_s = clock, hold, cost_s
        self.interrupted = 0
        self.spoken: list[str] = []
        self._stop = asyncio.Event()

    async def speak(self, tokens: Sequence[str] | AsyncIterator[str], sink: SpeechSink) -> None:
        self._stop.clear()
        items = [t async for t in tokens] if isinstance(tokens, AsyncIterator) else list(tokens)
        await self.clock.sleep(self.cost_s)  # the voice's first-audio latency
        for tok in items:
            if self._stop.is_set():
                return
            await sink.mark({"text": tok})
            await sink.audio(np.full(960, 1000, np.int16), 48_000)
            self.spoken.append(tok)
        if self.hold:
            await self._stop.wait()

    def interrupt(self) -> None:
        self.interrupted += 1
        self._stop.set()


def mic(start_ns: int, loud: bool) -> PcmFrame:
    return PcmFrame(np.full(320, LOUD if loud else 0.0, np.float32), 16_000, start_ns)


async def talk(session: VoiceSession, clock: VirtualClock, script: list[tuple[bool, float]]) -> None:
    """Play (loud?, seconds) segments as a real-time microphone: 20 ms frames, each sent when it has been captured."""
    t = clock.now_ns()
    for loud, seconds in script:
        for _ in range(round(seconds / 0.02)):
            await clock.sleep_until(t + 20 * MS)
            session.on_audio(mic(t, loud))
            t += 20 * MS


async def converse(session: VoiceSession, body: Callable[[], Any]) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(session.run())
        try:
            async with asyncio.timeout(60):  # a bound for a stuck test (virtual time runs fast), not a timing
                await body()
        finally:
            session.stop()


def stack_for(
    clock: VirtualClock, text: str, voice: FakeVoice | None, **kw: Any
) -> tuple[AgentStack, ScriptedRecognizer]:
    rec = ScriptedRecognizer(text)
    stack = AgentStack(
        vad=lambda: vad, recognizer=lambda: rec, speaker=(lambda: voice) if voice else None, offload=False, **kw
    )
    return stack, rec


async def test_typed_turn_streams_tokens_and_reply():
    clock = VirtualClock()
    t = RecordingTransport(clock)
    s = VoiceSession(t, AgentStack(), BudgetBoard(), clock=clock)
    s.on_message({"type": "text", "text": "hello"})
    s.on_message({"type": "bogus"})

    async def until_reply() -> None:
        while not t.of("agent.reply"):
            await clock.sleep(0.01)

    await converse(s, until_reply)
    kinds = [e["type"] for e in t.events]
    assert "hello" in kinds and "agent.reply" in kinds
    assert any(e["type"] == "error" and e["code"] == "unknown_type" for e in t.events)
    tokens = "".join(e["text"] for e in t.of("agent.token"))
    assert tokens == t.of("agent.reply")[0]["text"]
    # no TTS: captions follow the tokens at once
    assert "".join(e["text"] for e in t.of("caption")) == tokens
    assert s.report is not None and "egress" in s.report.table()


async def test_spoken_command_is_answered_speculatively_and_released_at_the_short_endpoint():
    clock = VirtualClock(start_ns=1_000 * MS)
    voice = FakeVoice(clock, cost_s=0.05)
    goals: list[Goal] = []
    stack, rec = stack_for(clock, "go left", voice, goal_sink=goals.append)
    t = RecordingTransport(clock)
    board = BudgetBoard()
    s = VoiceSession(t, stack, board, clock=clock)
    t.session = s

    async def body() -> None:
        await talk(s, clock, [(False, 0.3), (True, 0.6), (False, 0.6)])
        while not t.of("audio.start"):
            await clock.sleep(0.01)

    await converse(s, body)
    end = t.of("utterance.end")[0]
    assert end["text"] == "go left" and end["turn"] == 1
    reply = t.of("agent.reply")[0]
    assert reply["intent"] == "move" and reply["turn"] == 1
    assert goals == [Goal(GoalKind.MOVE, direction="left")]  # sent once, when the endpoint was confirmed
    start = t.of("audio.start")[0]
    assert start["spoken"] and start["turn"] == 1
    # a complete command: the short hangover (120 ms) ends the turn; the reply was ready before that
    assert start["voice_to_voice_ms"] >= 120.0
    assert start["voice_to_voice_ms"] < 240.0
    st = start["stages"]
    assert list(st) == ["endpoint_ms", "asr_final_ms", "responder_ms", "tts_first_audio_ms", "hold_ms", "egress_ms"]
    assert abs(sum(st.values()) - start["voice_to_voice_ms"]) < 1e-6
    assert st["hold_ms"] > 0  # the audio waited for the endpoint
    assert st["tts_first_audio_ms"] >= 50.0  # the voice's first-audio cost
    # the order the client sees: the turn's end, its reply, then its audio
    kinds = [e["type"] for e in t.events if e["type"] in ("utterance.end", "agent.reply", "audio.start")]
    assert kinds == ["utterance.end", "agent.reply", "audio.start"]
    assert rec.segments == 1
    # the graph's own budgets are the dashboard's
    budgets = {b["name"]: b for b in board.to_json()["budgets"]}
    assert budgets["voice_to_voice"]["count"] == 1
    assert abs(budgets["voice_to_voice"]["p50_ms"] - start["voice_to_voice_ms"]) < 1e-6
    assert budgets["tts_first_audio"]["count"] == 1 and budgets["tts_first_audio"]["p50_ms"] >= 50.0
    assert budgets["mic_to_text"]["count"] >= 1


async def test_speaking_on_after_a_pause_cancels_the_speculative_reply():
    clock = VirtualClock(start_ns=1_000 * MS)
    voice = FakeVoice(clock)
    stack, rec = stack_for(clock, "hello there", voice)
    t = RecordingTransport(clock)
    s = VoiceSession(t, stack, BudgetBoard(), clock=clock)
    t.session = s

    async def body() -> None:
        # a 64 ms pause (shorter than every hangover) inside the utterance, then the end
        await talk(s, clock, [(False, 0.3), (True, 0.4), (False, 0.08), (True, 0.4), (False, 0.8)])
        while not t.of("audio.start"):
            await clock.sleep(0.01)

    await converse(s, body)
    # the first pause was finalized and answered speculatively, then the user went on: dropped unheard
    assert rec.segments == 2
    assert len(t.of("utterance.end")) == 1 and len(t.of("agent.reply")) == 1
    (reply,) = t.of("agent.reply")
    (start,) = t.of("audio.start")
    assert reply["turn"] == start["turn"] == 2  # turn 1 was the discarded speculation
    # restored: the whole utterance (pre-roll, speech, pause, speech) was recognized again
    assert max(rec.feeds) > 0.8 * 16_000 * 0.4
    assert s.graph.nodes["gate"].core.stats.dropped > 0


async def test_a_turn_without_a_complete_command_waits_the_full_hangover():
    clock = VirtualClock(start_ns=1_000 * MS)
    stack, _ = stack_for(clock, "I was thinking", FakeVoice(clock))
    t = RecordingTransport(clock)
    s = VoiceSession(t, stack, BudgetBoard(), clock=clock)
    t.session = s

    async def body() -> None:
        await talk(s, clock, [(False, 0.3), (True, 0.5), (False, 0.6)])
        while not t.of("audio.start"):
            await clock.sleep(0.01)

    await converse(s, body)
    assert t.of("audio.start")[0]["voice_to_voice_ms"] >= 240.0


async def test_without_preemption_the_reply_starts_at_the_endpoint():
    clock = VirtualClock(start_ns=1_000 * MS)
    stack, _ = stack_for(clock, "go left", FakeVoice(clock), endpoint=EndpointConfig(preempt=False))
    t = RecordingTransport(clock)
    s = VoiceSession(t, stack, BudgetBoard(), clock=clock)
    t.session = s

    async def body() -> None:
        await talk(s, clock, [(False, 0.3), (True, 0.5), (False, 0.6)])
        while not t.of("audio.start"):
            await clock.sleep(0.01)

    await converse(s, body)
    start = t.of("audio.start")[0]
    assert start["stages"]["endpoint_ms"] >= 240.0  # no text to judge by at the pause: the full hangover
    assert start["stages"]["hold_ms"] == 0.0
    assert start["voice_to_voice_ms"] >= 240.0 + 50.0


async def test_user_speech_barges_in_on_the_agent():
    clock = VirtualClock(start_ns=1_000 * MS)
    voice = FakeVoice(clock, hold=True)
    stack, _ = stack_for(clock, "stop", voice)
    t = RecordingTransport(clock)
    board = BudgetBoard()
    s = VoiceSession(t, stack, board, clock=clock)
    t.session = s

    async def body() -> None:
        s.on_message({"type": "text", "text": "tell me something long"})
        while not t.speech:
            await clock.sleep(0.01)
        await talk(s, clock, [(False, 0.1), (True, 0.3)])
        while not t.of("audio.flush"):
            await clock.sleep(0.01)

    await converse(s, body)
    flush = t.of("audio.flush")[0]
    assert flush["reason"] == "barge_in" and flush["turn"] == 1 and flush["dropped_samples"] > 0
    assert voice.interrupted >= 1 and t.flushed == 1
    start = t.of("audio.start")[0]
    assert not start["spoken"] and "text_to_voice_ms" in start
    assert set(start["stages"]) == {"responder_ms", "tts_first_audio_ms", "hold_ms", "egress_ms"}
    budgets = {b["name"]: b for b in board.to_json()["budgets"]}
    assert budgets["barge_in"]["count"] == 1
    assert 32.0 <= budgets["barge_in"]["p50_ms"] < 50.0  # one VAD frame to notice, then the control lane
    assert budgets["voice_to_voice"]["count"] == 0  # a typed turn is not voice-to-voice


async def test_an_interrupt_message_stops_the_agent():
    clock = VirtualClock(start_ns=1_000 * MS)
    voice = FakeVoice(clock, hold=True)
    t = RecordingTransport(clock)
    s = VoiceSession(t, AgentStack(speaker=lambda: voice), BudgetBoard(), clock=clock)
    t.session = s

    async def body() -> None:
        s.on_message({"type": "text", "text": "hello"})
        while not t.speech:
            await clock.sleep(0.01)
        s.on_message({"type": "interrupt"})
        while not t.of("audio.flush"):
            await clock.sleep(0.01)

    await converse(s, body)
    assert voice.interrupted == 1 and t.flushed == 1
    assert s.hello()["capabilities"] == {"asr": False, "tts": True, "vision": False}


def test_the_graph_is_the_design_shape_with_named_policies():
    clock = VirtualClock()
    stack, _ = stack_for(clock, "x", FakeVoice(clock))
    s = VoiceSession(RecordingTransport(clock), stack, BudgetBoard(), clock=clock)
    edges = {(e.src_node, e.dst_node): e.policy.name for e in s.graph.edges}
    assert edges[("mic", "vad")] == "block(64)"
    assert edges[("asr", "turns")] == "drop_oldest(4)"  # the feedback edge of the only cycle
    assert edges[("turns", "agent")] == "block(8)"
    assert edges[("gate", "egress")] == "block(64)"
    assert s.doors.mic is not None and s.doors.mic.buffer.policy.name == "drop_oldest(500)"
    names = {b.name for b in s.graph.budgets}
    assert names == {"voice_to_voice", "text_to_voice", "mic_to_text", "tts_first_audio", "barge_in"}
