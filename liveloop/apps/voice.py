"""The voice agent session behind `liveloop serve`: one per connected client.

    transport (WebRTC or /ws)
      ├─ on_audio(PcmFrame 16 kHz) ─► recognizer (VAD + streaming ASR) ─► transcript events
      │                                        └─ end of utterance ─► responder ─► tokens ─► speaker (TTS)
      ├─ on_message({"type": "text"})  ───────────────────────────────┘   (typed input, same path)
      ├─ on_video(frame) ─► latest-wins slot ─► vision (when present) ─► tracks ─► responder, client
      └◄─ send_event(json), push_speech(pcm), mark(caption), flush_speech() ◄─ speaker

The session is transport-agnostic: a `Transport` sends events and speech. The
speech stack (recognizer, speaker, vision) comes from a process-wide
`AgentStack` (models are shared per process); any part may be absent, and the
session then says so in its hello event (``capabilities``) and keeps working
with what there is: typed text always reaches the responder.

Every task of the session lives in the TaskGroup of `run()`; every queue is
bounded with a named policy.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from liveloop.agent.responder import Goal, Reply, ResponderConfig, ResponderCore
from liveloop.apps.nodes import Utterance, reply_graph
from liveloop.apps.stats import BudgetBoard
from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock
from liveloop.rtc.audio import PcmFrame
from liveloop.rtc.framerate import LastGoodFrame

log = logging.getLogger(__name__)
WS_API_VERSION = 1
_session_ids = itertools.count(1)


class Transport(Protocol):
    """What a session needs from its client connection."""

    def send_event(self, event: dict[str, Any]) -> None: ...

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None: ...

    def mark(self, payload: dict[str, Any]) -> None: ...

    def flush_speech(self) -> int: ...

    def speech_pending(self) -> bool:
        """Is agent speech still queued or playing at the client (so that barge-in has something to stop)?"""
        ...


class TranscriptKind(enum.Enum):
    PARTIAL = "partial"
    COMMITTED = "committed"
    SPEECH_START = "speech_start"
    END_OF_UTTERANCE = "end_of_utterance"


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    kind: TranscriptKind
    text: str = ""
    at_ns: int = 0  # capture time of the audio it is about (end of speech for END_OF_UTTERANCE)
    endpoint_ns: int = 0  # END_OF_UTTERANCE: when the VAD confirmed the end (clock time of that audio's capture)


class Recognizer(Protocol):
    """One session's speech recognition (VAD + streaming ASR); blocking calls run in a thread."""

    def feed(self, frame: PcmFrame) -> list[TranscriptEvent]: ...


class SpeechSink(Protocol):
    """Where a speaker puts its audio and caption marks (the session's transport)."""

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None: ...

    def mark(self, payload: dict[str, Any]) -> None: ...


class Speaker(Protocol):
    """Streaming TTS for one session: speaks a reply's tokens into a sink; `interrupt()` is barge-in."""

    async def speak(self, tokens: Sequence[str] | AsyncIterator[str], sink: SpeechSink) -> None: ...

    def interrupt(self) -> None: ...


@dataclass(slots=True)
class AgentStack:
    """Process-wide factories for the parts of the agent; None where a part is not available."""

    recognizer: Callable[[], Recognizer] | None = None
    speaker: Callable[[], Speaker] | None = None
    vision: Callable[[], Any] | None = None  # → liveloop.apps.vision.VisionPipeline
    llm: Any = None  # liveloop.agent.llm.LlmClient: free talk from an OpenAI-compatible endpoint
    responder: ResponderConfig = field(default_factory=ResponderConfig)
    # where the responder's robot goals go (the robot app, when one is attached); called on the event loop
    goal_sink: Callable[[Goal], None] | None = None
    notes: dict[str, str] = field(default_factory=dict)  # why a part is missing

    def capabilities(self) -> dict[str, bool]:
        return {"asr": self.recognizer is not None, "tts": self.speaker is not None, "vision": self.vision is not None}


AUDIO_QUEUE = 500  # 10 s of 20 ms frames, drop-oldest: a stalled recognizer must not grow memory
TURN_QUEUE = 4  # committed utterances waiting for the responder, drop-oldest
TIMING_KEPT = 16  # turns whose timing is kept until their audio goes out
TURN_AUDIO = "_turn_audio"  # internal mark: the first sample of a turn's reply (reported by the egress)
GAP_FILL_MS = 100  # no microphone audio for this long (DTX, loss): feed the recognizer silence


class VoiceSession:
    """The agent for one client. Feed it with the `on_*` methods; `run()` until the client leaves."""

    def __init__(
        self, transport: Transport, stack: AgentStack, board: BudgetBoard, *, clock: Clock | None = None
    ) -> None:
        self.id = next(_session_ids)
        self.transport = transport
        self.stack = stack
        self.board = board
        self.clock = clock or MonotonicClock()
        self.responder = ResponderCore(stack.responder)
        self.llm = stack.llm
        self._history: deque[tuple[str, str]] = deque(maxlen=8)  # recent (role, text) turns for the LLM
        self.graph, self._heard = reply_graph(self, self.responder)
        self.recognizer = stack.recognizer() if stack.recognizer else None
        self.speaker = stack.speaker() if stack.speaker else None
        self.vision = stack.vision() if stack.vision else None
        self._frames: LastGoodFrame[Any] = LastGoodFrame()
        self._wake_video = asyncio.Event()
        self._audio: deque[PcmFrame] = deque(maxlen=AUDIO_QUEUE)
        self._turns: deque[tuple[str, int, bool]] = deque(maxlen=TURN_QUEUE)  # (text, end_ns, spoken)
        self._wake_audio = asyncio.Event()
        self._wake_turns = asyncio.Event()
        self._stop = asyncio.Event()
        self.audio_dropped = 0
        self.audio_frames = 0
        self.gap_filled_ms = 0.0
        self.turns_dropped = 0
        self.turn = 0
        self._timing: dict[int, TurnTiming] = {}  # per turn: when the user's turn ended, stage times
        self._speaking_turn: int | None = None
        self._pending_stage_ns: dict[str, int] = {}  # stages of the utterance being committed (endpoint, ASR)

    # -- input from the transport (sync, never blocks) ----------------------
    def on_audio(self, frame: PcmFrame) -> None:
        self.audio_frames += 1
        if len(self._audio) == self._audio.maxlen:
            self.audio_dropped += 1
        self._audio.append(frame)
        self._wake_audio.set()

    def on_video(self, frame: Any, capture_ns: int) -> None:
        if self.vision is not None and self._frames.put(frame, capture_ns):
            self._wake_video.set()

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                self.transport.send_event(error_event("bad_text", "'text' must be a non-empty string"))
                return
            self.commit_utterance(text, self.clock.now_ns(), spoken=False)
        elif kind == "interrupt":
            self.barge_in(self.clock.now_ns())
        elif kind == "ping":
            self.transport.send_event({"type": "pong", "t": message.get("t")})
        elif kind == "tracks":  # client-side or external tracks
            self.responder.feed_tracks(message.get("tracks") or [], self.clock.now_ns())
        else:
            self.transport.send_event(error_event("unknown_type", f"unknown message type {kind!r}"))

    def commit_utterance(self, text: str, end_ns: int, *, spoken: bool = True) -> None:
        """A user turn: spoken (end_ns = end of speech) or typed (end_ns = when it arrived)."""
        if len(self._turns) == self._turns.maxlen:
            self.turns_dropped += 1
        self._turns.append((text, end_ns, spoken))
        self._wake_turns.set()

    def barge_in(self, at_ns: int) -> None:
        """The user started speaking: stop the agent's audio now."""
        if self._speaking_turn is None and not self.transport.speech_pending():
            return
        turn = self._speaking_turn if self._speaking_turn is not None else self.turn
        if self.speaker is not None:
            self.speaker.interrupt()
        dropped = self.transport.flush_speech()
        now = self.clock.now_ns()
        self.board.feed("barge_in", max(0.0, (now - at_ns) / NS_PER_MS))
        self.transport.send_event(
            {"type": "audio.flush", "reason": "barge_in", "turn": turn, "dropped_samples": dropped}
        )
        self._speaking_turn = None

    def on_turn_audio(self, turn: int, sent_ns: int) -> None:
        """The transport's egress reports the first sample of `turn`'s reply leaving the server."""
        t = self._timing.get(turn)
        if t is None or t.reported:
            return
        t.reported = True
        latency_ms = (sent_ns - t.end_ns) / NS_PER_MS
        if t.spoken:  # typed turns are not voice-to-voice
            self.board.feed("voice_to_voice", max(0.0, latency_ms))
        stages = {}
        prev = t.end_ns
        for name in ("endpoint", "asr_final", "responder", "tts_first_audio"):
            at = t.stages.get(name)
            if at is not None:
                stages[name + "_ms"] = (at - prev) / NS_PER_MS
                prev = at
        stages["egress_ms"] = (sent_ns - prev) / NS_PER_MS
        self.transport.send_event(
            {
                "type": "audio.start",
                "turn": turn,
                "spoken": t.spoken,
                ("voice_to_voice_ms" if t.spoken else "text_to_voice_ms"): latency_ms,
                "stages": stages,
            }
        )

    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "version": WS_API_VERSION,
            "session": self.id,
            "capabilities": self.stack.capabilities(),
            "notes": dict(self.stack.notes),
            "budgets": self.board.to_json()["budgets"],
        }

    def stop(self) -> None:
        self._stop.set()

    # -- life -----------------------------------------------------------------
    async def run(self) -> None:
        self.transport.send_event(self.hello())
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._listen(), name=f"session{self.id}.listen")
            tg.create_task(self._reply_loop(), name=f"session{self.id}.reply")
            tg.create_task(self.graph.run(), name=f"session{self.id}.graph")
            tg.create_task(self._stats_loop(), name=f"session{self.id}.stats")
            if self.vision is not None:
                tg.create_task(self._see(), name=f"session{self.id}.vision")
            await self._stop.wait()
            raise _SessionOver

    async def run_until_stopped(self) -> None:
        try:
            await self.run()
        except* _SessionOver:
            pass

    async def _listen(self) -> None:
        """Feed the recognizer; when the microphone goes quiet on the wire, feed it silence.

        Browsers send no packets during silence when Opus DTX is on, and lost packets leave
        gaps: without this the endpointer would never hear the end of a turn. After
        `GAP_FILL_MS` without audio, the gap up to now is fed as zeros (stamped where the
        audio stopped), one frame at a time, until audio comes back.
        """
        gap_ns = GAP_FILL_MS * NS_PER_MS
        last_end_ns: int | None = None
        while True:
            try:
                async with asyncio.timeout(GAP_FILL_MS / 1000):
                    await self._wake_audio.wait()
            except TimeoutError:
                now = self.clock.now_ns()
                if self.recognizer is not None and last_end_ns is not None and now - last_end_ns >= gap_ns:
                    n = (now - last_end_ns) * 16_000 // 1_000_000_000
                    frame = PcmFrame(np.zeros(n, np.float32), 16_000, last_end_ns)
                    last_end_ns += n * 1_000_000_000 // 16_000
                    self.gap_filled_ms += n / 16
                    for ev in await asyncio.to_thread(self.recognizer.feed, frame):
                        self._on_transcript(ev)
                continue
            self._wake_audio.clear()
            while self._audio:
                # Everything queued goes to the recognizer in one call (one thread hop, not one per 20 ms).
                frames = []
                while self._audio:
                    frame = self._audio.popleft()
                    if last_end_ns is not None and frame.capture_ns + frame.duration_ns <= last_end_ns:
                        continue  # already covered by filled silence (late audio after a gap)
                    frames.append(frame)
                    last_end_ns = frame.capture_ns + frame.duration_ns
                if self.recognizer is None or not frames:
                    continue
                batch = (
                    frames[0]
                    if len(frames) == 1
                    else PcmFrame(
                        np.concatenate([f.samples for f in frames]), frames[0].sample_rate, frames[0].capture_ns
                    )
                )
                for ev in await asyncio.to_thread(self.recognizer.feed, batch):
                    self._on_transcript(ev)

    def _on_transcript(self, ev: TranscriptEvent) -> None:
        if ev.kind is TranscriptKind.SPEECH_START:
            self.barge_in(ev.at_ns)
            self.transport.send_event({"type": "speech.start"})
        elif ev.kind is TranscriptKind.PARTIAL:
            self._text_latency(ev)
            self.transport.send_event({"type": "transcript", "final": False, "text": ev.text})
        elif ev.kind is TranscriptKind.COMMITTED:
            self._text_latency(ev)
            self.transport.send_event({"type": "transcript", "final": True, "text": ev.text})
        elif ev.kind is TranscriptKind.END_OF_UTTERANCE:
            self._pending_stage_ns = {"asr_final": self.clock.now_ns()}
            if ev.endpoint_ns:
                self._pending_stage_ns["endpoint"] = ev.endpoint_ns
            self.transport.send_event({"type": "utterance.end", "text": ev.text})
            if ev.text.strip():
                self.commit_utterance(ev.text, ev.at_ns)

    def _text_latency(self, ev: TranscriptEvent) -> None:
        if ev.at_ns:
            self.board.feed("mic_to_text", max(0.0, (self.clock.now_ns() - ev.at_ns) / NS_PER_MS))

    async def _reply_loop(self) -> None:
        """Committed utterances go into the reply graph, stamped with the end of the user's speech."""
        while True:
            await self._wake_turns.wait()
            self._wake_turns.clear()
            while self._turns:
                text, end_ns, spoken = self._turns.popleft()
                self.turn += 1
                self._timing[self.turn] = TurnTiming(end_ns, spoken, dict(self._pending_stage_ns))
                self._pending_stage_ns = {}
                for old in [k for k in self._timing if k <= self.turn - TIMING_KEPT]:
                    del self._timing[old]
                await self._heard.put(Utterance(text, self.turn), origin_ns=end_ns)

    def _stage(self, turn: int, name: str) -> None:
        t = self._timing.get(turn)
        if t is not None:
            t.stages.setdefault(name, self.clock.now_ns())

    def announce_reply(self, turn: int, reply: Reply) -> None:
        """The responder node's reply: streamed to the client as tokens, then whole."""
        self._stage(turn, "responder")
        for token in reply.tokens:
            self.transport.send_event({"type": "agent.token", "turn": turn, "text": token})
        self.transport.send_event(
            {
                "type": "agent.reply",
                "turn": turn,
                "text": reply.text,
                "intent": reply.intent,
                "goal": reply.goal.to_json() if reply.goal else None,
            }
        )
        if reply.goal is not None and self.stack.goal_sink is not None:
            self.stack.goal_sink(reply.goal)

    async def llm_tokens(self, turn: int, text: str) -> AsyncIterator[str]:
        """The LLM's reply, streamed to the client token by token as it arrives."""
        assert self.llm is not None
        parts: list[str] = []
        try:
            async for token in self.llm.stream(text, tuple(self._history)):
                if not parts:
                    self._stage(turn, "responder")  # the LLM's first token
                parts.append(token)
                self.transport.send_event({"type": "agent.token", "turn": turn, "text": token})
                yield token
        except Exception as exc:  # a remote endpoint fails in many ways: say so, keep the session
            self.transport.send_event(error_event("llm_failed", f"LLM endpoint failed: {exc}"))
        reply = "".join(parts)
        self._history.extend([("user", text), ("assistant", reply)])
        self.transport.send_event({"type": "agent.reply", "turn": turn, "text": reply, "intent": "llm", "goal": None})

    async def speak_reply(
        self, turn: int, reply: Reply, *, on_first_audio: Callable[[], None], stream: AsyncIterator[str] | None = None
    ) -> None:
        """The speaker node's work: the reply's audio and captions into the transport."""
        tokens: Sequence[str] | AsyncIterator[str] = reply.tokens if stream is None else stream
        if self.speaker is None:
            if isinstance(tokens, AsyncIterator):
                tokens = [t async for t in tokens]
            for token in tokens:
                self.transport.send_event({"type": "caption", "turn": turn, "text": token})
            return
        self._speaking_turn = turn
        await self.speaker.speak(tokens, _TurnSink(self, turn, on_first_audio))
        first_audio_ms = getattr(self.speaker, "first_audio_ms", None)
        if first_audio_ms is not None:
            self.board.feed("tts_first_audio", first_audio_ms)
            self.speaker.first_audio_ms = None  # type: ignore[attr-defined]
        if self._speaking_turn == turn:
            self._speaking_turn = None

    async def _see(self) -> None:
        """Latest frame wins: while the tracker works, newer frames replace older ones in the slot."""
        assert self.vision is not None
        period_ns = round(NS_PER_S / self.vision.config.max_fps)
        while True:
            await self._wake_video.wait()
            self._wake_video.clear()
            t0 = self.clock.now_ns()
            got = self._frames.take(t0)
            if got is None or got.repeated:
                continue
            seen = await asyncio.to_thread(self.vision.feed, got.frame, got.capture_ns, self.clock.now_ns())
            now = self.clock.now_ns()
            self.board.feed("frame_to_tracks", max(0.0, (now - got.capture_ns) / NS_PER_MS))
            self.responder.feed_tracks([p.track for p in seen.tracks], now)
            for ev in seen.events:
                self.transport.send_event(ev)
            await self.clock.sleep_until(t0 + period_ns)

    async def _stats_loop(self) -> None:
        while True:
            await self.clock.sleep(1.0)
            self.transport.send_event(
                {
                    **self.board.to_json(),
                    "session": {
                        "audio_frames": self.audio_frames,
                        "audio_dropped": self.audio_dropped,
                        "audio_backlog": len(self._audio),
                        "gap_filled_ms": self.gap_filled_ms,
                        "turns": self.turn,
                    },
                }
            )


@dataclass(slots=True)
class TurnTiming:
    end_ns: int  # end of the user's speech (spoken) or arrival (typed)
    spoken: bool
    stages: dict[str, int]  # when each stage finished: endpoint, asr_final, responder, tts_first_audio
    reported: bool = False


class _TurnSink:
    """The transport, for one turn: drops what a barged-in turn still produces, tags marks with the turn."""

    def __init__(self, session: VoiceSession, turn: int, on_first_audio: Callable[[], None]) -> None:
        self.session, self.turn = session, turn
        self.on_first_audio: Callable[[], None] | None = on_first_audio

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        if self.session._speaking_turn == self.turn:
            if self.on_first_audio is not None:
                self.session._stage(self.turn, "tts_first_audio")
                # a marker the egress reports when this turn's first sample leaves (not sent to the client)
                self.session.transport.mark({"type": TURN_AUDIO, "turn": self.turn})
            self.session.transport.push_speech(samples, rate_hz)
            if self.on_first_audio is not None:
                self.on_first_audio()
                self.on_first_audio = None

    def mark(self, payload: dict[str, Any]) -> None:
        if self.session._speaking_turn == self.turn:
            self.session.transport.mark({"type": "caption", "turn": self.turn, **payload})


class _SessionOver(Exception):
    """Raised inside the session's TaskGroup to end it (cancels the other tasks)."""


def error_event(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
