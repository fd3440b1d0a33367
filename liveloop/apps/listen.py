"""The listening half of a session graph: VAD, turn-taking, streaming recognition (thin node adapters).

    mic ──PcmFrame──► vad ──VadFrame──► turns ──AsrCommand──► asr ──transcript──► egress (client events)
                                          │  ▲                   └──Hypothesis──┘ drop_oldest(4): the feedback edge
                                          └──turns (Utterance, Confirmed, Cancelled; INTERRUPT at speech start)──► agent

`VadNode` frames the audio (`VadFramer`, sans-I/O) and scores each 32 ms frame
(Silero, inline: well under a millisecond). `TurnNode` is the adapter of
`liveloop.apps.turns.TurnTaker`: it routes the turn-taker's outputs, and at the
start of speech puts an INTERRUPT on the control lane of its `turns` output
(barge-in). `AsrNode` runs `Transcription` (sans-I/O bookkeeping around a
streaming recognizer) in a worker thread whenever the recognizer has work: a
whole chunk of new audio, a finalize, a restore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from liveloop.apps.messages import Hypothesis, VadFrame
from liveloop.apps.turns import (
    Begin,
    Cancelled,
    Confirmed,
    EmptyTurn,
    Finalize,
    Recognize,
    Restore,
    SpeechStarted,
    TurnOutput,
    TurnTaker,
    Utterance,
)
from liveloop.graph import Block, DropOldest, Event, EventKind, Input, Node, NodeContext, Output
from liveloop.rtc.audio import PcmFrame

RATE_HZ = 16_000
VAD_FRAME = 512  # Silero's frame at 16 kHz (32 ms); other sizes are rejected by the model
NS_PER_S = 1_000_000_000


class VadFramer:
    """Audio of any chunk size → 512-sample frames, each with the capture time of its first sample (sans-I/O)."""

    def __init__(self, frame: int = VAD_FRAME, rate_hz: int = RATE_HZ) -> None:
        self.frame = frame
        self.rate_hz = rate_hz
        self._pending = np.zeros(0, np.float32)
        self._start_ns = 0  # capture time of the first pending sample
        self.resyncs = 0

    def _ns(self, n: int) -> int:
        return n * NS_PER_S // self.rate_hz

    def feed(self, samples: np.ndarray, capture_ns: int) -> list[tuple[np.ndarray, int]]:
        samples = np.asarray(samples, np.float32).reshape(-1)
        expected = self._start_ns + self._ns(len(self._pending))
        if not len(self._pending):
            self._start_ns = capture_ns
        elif abs(capture_ns - expected) > self._ns(self.frame):  # a discontinuity: start over here
            self.resyncs += 1
            self._pending = np.zeros(0, np.float32)
            self._start_ns = capture_ns
        self._pending = np.concatenate([self._pending, samples])
        out = []
        while len(self._pending) >= self.frame:
            out.append((self._pending[: self.frame], self._start_ns))
            self._pending = self._pending[self.frame :]
            self._start_ns += self._ns(self.frame)
        return out


class VadNode(Node):
    """16 kHz audio in; every 32 ms frame out with its speech probability."""

    audio = Input(PcmFrame, Block(64))
    frames = Output(VadFrame)

    def __init__(self, detector: Callable[[np.ndarray], float], name: str = "vad") -> None:
        super().__init__(name)
        self.detector = detector
        self.framer = VadFramer()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        frame: PcmFrame = event.data
        if frame.sample_rate != RATE_HZ:
            raise ValueError(f"node {self.name!r} needs {RATE_HZ} Hz audio, got {frame.sample_rate} Hz")
        for samples, start_ns in self.framer.feed(frame.samples, frame.capture_ns):
            prob = float(self.detector(samples))
            await ctx.emit("frames", VadFrame(samples, start_ns, prob), parent=event._replace(origin_ns=start_ns))


class TurnNode(Node):
    """Turn-taking: VAD frames and hypotheses in; recognizer commands, turns and barge-in out."""

    frames = Input(VadFrame, Block(64))
    hypotheses = Input(Hypothesis, DropOldest(4), doc="from the recognizer (the feedback edge)")
    asr = Output(object, doc="Begin / Recognize / Finalize / Restore, in order with the audio")
    turns = Output(object, doc="Utterance / Confirmed / Cancelled; INTERRUPT on the control lane at speech start")
    events = Output(dict, doc="client events: speech.start, utterance.end of an empty turn")

    def __init__(self, core: TurnTaker, name: str = "turns") -> None:
        super().__init__(name)
        self.core = core

    async def process(self, event: Event, ctx: NodeContext) -> None:
        if event.port == "frames":
            f: VadFrame = event.data
            outs = self.core.feed(f.samples, f.start_ns, f.prob)
        else:
            h: Hypothesis = event.data
            outs = self.core.hypothesis(h.utt, h.text)
        for out in outs:
            await self._route(out, event, ctx)

    async def _route(self, out: TurnOutput, parent: Event, ctx: NodeContext) -> None:
        if isinstance(out, Begin | Recognize | Finalize | Restore):
            await ctx.emit("asr", out, parent=parent)
        elif isinstance(out, SpeechStarted):
            await ctx.send_control(EventKind.INTERRUPT, "turns", origin_ns=out.at_ns)  # barge-in
            await ctx.emit("events", {"type": "speech.start"}, parent=parent._replace(origin_ns=out.at_ns))
        elif isinstance(out, Utterance | Confirmed):
            await ctx.emit("turns", out, parent=parent._replace(origin_ns=out.end_ns))
        elif isinstance(out, Cancelled):
            await ctx.emit("turns", out, parent=parent)
        elif isinstance(out, EmptyTurn):
            end = parent._replace(origin_ns=out.end_ns)
            await ctx.emit("events", {"type": "utterance.end", "text": "", "turn": None}, parent=end)


class Transcriber(Protocol):
    """A streaming recognizer (`liveloop.asr.recognizer.StreamingRecognizer`): blocking calls.

    Each returns updates with ``words`` (each with ``.word``), ``partial`` and ``final``.
    """

    def feed(self, samples: np.ndarray) -> Sequence[Any]: ...

    def end_segment(self, speech: bool = False) -> Sequence[Any]: ...


TextUpdate = tuple[bool, str]  # (committed?, the utterance's text so far)


class Transcription:
    """One session's recognition around a `Transcriber`: what to feed when, finalize, restore (sans-I/O).

    `keep` only buffers (cheap, on the loop); `step`, `finalize`, `restore` and
    `begin` may run the model (call them in a worker thread, one at a time).
    The audio of the current utterance is kept (at most `max_keep_s`), so that
    when the user goes on speaking after a preemptive finalize, `restore`
    recognizes the utterance again from its start.
    """

    def __init__(self, recognizer: Transcriber, *, chunk_ms: int = 300, max_keep_s: float = 29.0) -> None:
        if chunk_ms <= 0 or max_keep_s <= 0:
            raise ValueError(f"chunk_ms and max_keep_s must be > 0, got {chunk_ms}, {max_keep_s}")
        self.recognizer = recognizer
        self.chunk_samples = chunk_ms * RATE_HZ // 1000
        self.max_keep = round(max_keep_s * RATE_HZ)
        self._kept: list[np.ndarray] = []
        self._kept_n = 0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._open = False  # a segment is being recognized (not finalized)
        self._words: list[str] = []
        self.end_ns = 0  # capture time just after the last sample kept
        self.restores = 0
        self.kept_dropped = 0

    @property
    def open(self) -> bool:
        return self._open

    @property
    def due(self) -> bool:
        """A whole chunk of new audio waits: `step` has work."""
        return self._open and self._pending_n >= self.chunk_samples

    def keep(self, samples: np.ndarray, end_ns: int) -> None:
        self._kept.append(samples)
        self._kept_n += len(samples)
        while self._kept_n > self.max_keep and len(self._kept) > 1:
            old = self._kept.pop(0)
            self._kept_n -= len(old)
            self.kept_dropped += len(old)
        self.end_ns = end_ns
        if self._open:
            self._pending.append(samples)
            self._pending_n += len(samples)

    def begin(self) -> None:
        """A new utterance: the last one's audio is forgotten; a segment left open is closed unheard."""
        if self._open:
            self.recognizer.end_segment()
        self._kept, self._kept_n = [], 0
        self._pending, self._pending_n = [], 0
        self._words = []
        self._open = True

    def step(self) -> list[TextUpdate]:
        return self._texts(self.recognizer.feed(self._take())) if self._pending_n else []

    def finalize(self) -> tuple[list[TextUpdate], str]:
        """Everything up to now, finished: (updates, the utterance's text)."""
        if not self._open:
            return [], ""
        ups = self._texts(self.recognizer.feed(self._take())) if self._pending_n else []
        ups += self._texts(self.recognizer.end_segment(speech=True))  # a voice turn: never closed empty
        text = "".join(self._words).strip()
        self._words = []
        self._open = False
        return ups, text

    def restore(self) -> list[TextUpdate]:
        """Reopen the utterance: recognize everything kept since it began, again."""
        if self._open:
            return []
        self.restores += 1
        self._open = True
        self._words = []
        self._pending, self._pending_n = list(self._kept), self._kept_n
        return self.step()

    def _take(self) -> np.ndarray:
        x = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_n = [], 0
        return x

    def _texts(self, updates: Sequence[Any]) -> list[TextUpdate]:
        out: list[TextUpdate] = []
        for u in updates:
            if u.words:
                self._words.extend(w.word for w in u.words)
                out.append((True, "".join(self._words).strip()))
            if u.partial:
                out.append((False, ("".join(self._words) + u.partial).strip()))
        return out


class AsrNode(Node):
    """Streaming recognition of what the turn-taker hands over; the text of each pause back to it."""

    audio = Input(object, Block(128), doc="Begin / Recognize / Finalize / Restore from the turn-taker")
    transcript = Output(dict, doc="client events: partial and committed transcript")
    hypothesis = Output(Hypothesis, doc="the finished text of a pause (back to the turn-taker)")

    def __init__(self, core: Transcription, *, offload: bool = True, name: str = "asr") -> None:
        super().__init__(name)
        self.core = core
        self.offload = offload  # run the model in a worker thread (off the event loop); tests run it inline

    async def _call(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(fn) if self.offload else fn()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        cmd = event.data
        core = self.core
        if isinstance(cmd, Recognize):
            core.keep(cmd.samples, cmd.end_ns)
            if core.due:
                await self._emit(await self._call(core.step), event, ctx)
        elif isinstance(cmd, Begin):
            if core.open:
                await self._call(core.begin)
            else:
                core.begin()
        elif isinstance(cmd, Finalize):
            ups, text = await self._call(core.finalize)
            await self._emit(ups, event, ctx)
            await ctx.emit("hypothesis", Hypothesis(cmd.utt, text), parent=event)
        elif isinstance(cmd, Restore):
            await self._emit(await self._call(core.restore), event, ctx)
        else:
            raise TypeError(f"node {self.name!r}: unexpected input {type(cmd).__name__}")

    async def _emit(self, ups: list[TextUpdate], parent: Event, ctx: NodeContext) -> None:
        """Transcript events carry the capture time of the last sample they cover (the mic_to_text budget)."""
        at = parent._replace(origin_ns=self.core.end_ns)
        for final, text in ups:
            await ctx.emit("transcript", {"type": "transcript", "final": final, "text": text}, parent=at)
