"""Graph nodes: `asr.Vad` and `asr.StreamingWhisper` (thin adapters over VadCore and StreamingRecognizer).

    mic ──audio──► Vad ──audio──► StreamingWhisper ──partial──►
                    └──events──────────►(vad)      ├──words────►  (committed words with timestamps)
                                                   └──utterance► (end of utterance: the whole text)

Audio in: 16 kHz float32 mono frames, either a numpy array or any object
with ``samples``, ``sample_rate`` (and optionally ``channels``) such as
`liveloop.rtc.audio.PcmFrame`; other rates, int16 and stereo are converted with
PyAV; anything else is rejected with an error naming the node. The event's
origin is the capture time of the frame's first sample.

Every output carries the origin of the audio it covers: a committed word is
emitted with the origin of the instant the word *ends* in the audio (so a
budget ``mic.audio → asr.words`` measures emission latency after the word),
a partial with the end of the audio encoded so far, an end of utterance with
the end of the last speech. `Vad` emits `SpeechStart` (and, when
``interrupt_on_speech``, an INTERRUPT control event for barge-in) and
`EndOfUtterance`; `StreamingWhisper` closes its segment on `EndOfUtterance`.

Chunk size is the knob (`modes`): the runtime picks it per event from the
budget left; the recognizer takes the pick at the start of each segment
(utterance), so one utterance is decoded with one block size.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from liveloop.asr.audio import SAMPLE_RATE, AudioFormatError, as_pcm16k
from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer, Update, Word
from liveloop.asr.vad import EndOfUtterance, SpeechStart, VadConfig, VadCore
from liveloop.graph.channel import Block
from liveloop.graph.event import Event, EventKind
from liveloop.graph.node import Input, Mode, Node, Output

if TYPE_CHECKING:
    from liveloop.graph.runtime import NodeContext

NS = 1_000_000_000
# audio kept beyond the pre-roll while the VAD says silence: it decides a speech start ≥ min_speech_ms after
# the onset (and frames, events and queues add to that), and the lead is counted from the onset
PREROLL_SLACK_SAMPLES = SAMPLE_RATE  # 1 s


@dataclass(frozen=True, slots=True)
class Partial:
    text: str  # the uncommitted tail of the utterance (may change)
    committed: str  # the utterance's committed text so far


@dataclass(frozen=True, slots=True)
class CommittedWord:
    word: str
    start_s: float  # in the stream (seconds since this node's first sample)
    end_s: float
    start_origin_ns: int  # the same instants on the monotonic clock of the capture
    end_origin_ns: int


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str  # everything committed in the utterance
    start_origin_ns: int
    end_origin_ns: int


def _samples(data: Any, node: str) -> np.ndarray:
    try:
        if isinstance(data, np.ndarray):
            return as_pcm16k(data)
        rate = getattr(data, "sample_rate", None)
        samples = getattr(data, "samples", None)
        if rate is None or samples is None:
            raise AudioFormatError(
                f"expected a numpy array or a frame with samples/sample_rate, got {type(data).__name__}"
            )
        return as_pcm16k(np.asarray(samples), int(rate), int(getattr(data, "channels", 1)))
    except AudioFormatError as exc:
        raise AudioFormatError(f"node {node!r}: {exc}") from exc


class OriginMap:
    """Stream sample index → origin (capture) time, from the origins of the frames fed."""

    def __init__(self) -> None:
        self._starts: list[int] = []  # first sample index of each frame
        self._origins: list[int] = []
        self.n_samples = 0

    def add(self, n: int, origin_ns: int) -> None:
        self._starts.append(self.n_samples)
        self._origins.append(origin_ns)
        self.n_samples += n
        if len(self._starts) > 4096:  # keep the last ~minutes
            del self._starts[:2048], self._origins[:2048]

    def origin_ns(self, t_s: float) -> int:
        idx = round(t_s * SAMPLE_RATE)
        i = max(0, bisect.bisect_right(self._starts, idx) - 1)
        if not self._starts:
            return 0
        return self._origins[i] + (idx - self._starts[i]) * NS // SAMPLE_RATE


class Vad(Node):
    """Silero VAD endpointing: audio passes through; speech start / end of utterance come out on `events`."""

    audio = Input(object, Block(64), doc="16 kHz float32 mono frames (others converted)")
    out = Output(np.ndarray, doc="the same audio as 16 kHz float32 (1-D)")
    events = Output(object, doc="SpeechStart / EndOfUtterance, times in the stream")

    def __init__(
        self, name: str | None = None, *, config: VadConfig | None = None, interrupt_on_speech: bool = False
    ) -> None:
        super().__init__(name or "vad")
        self.config = config or VadConfig()
        self.interrupt_on_speech = interrupt_on_speech
        self.core: VadCore | None = None
        self.origins = OriginMap()

    async def setup(self, ctx: NodeContext) -> None:
        self.core = VadCore(self.config)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        assert self.core is not None
        x = _samples(event.data, self.name)
        self.origins.add(x.size, event.origin_ns)
        await ctx.emit("out", x, parent=event)
        for ev in self.core.feed(x):
            await self._emit_event(ev, ctx, event)

    async def _emit_event(self, ev: SpeechStart | EndOfUtterance, ctx: NodeContext, parent: Event | None) -> None:
        origin = self.origins.origin_ns(ev.at_s)
        if parent is not None:  # keep the audio's source and path, with the origin of the instant the event is about
            await ctx.emit("events", ev, parent=parent._replace(origin_ns=origin))
        else:
            await ctx.emit("events", ev, origin_ns=origin)
        if isinstance(ev, SpeechStart) and self.interrupt_on_speech:
            await ctx.send_control(EventKind.INTERRUPT, origin_ns=origin)

    async def on_eos(self, port: str, ctx: NodeContext) -> None:
        if self.core is not None:
            for ev in self.core.flush():
                await self._emit_event(ev, ctx, None)


class StreamingWhisper(Node):
    """Causal streaming Whisper: committed words with timestamps, partials, end of utterance."""

    audio = Input(object, Block(64), doc="16 kHz float32 mono frames (others converted)")
    vad = Input(object, Block(16), doc="SpeechStart / EndOfUtterance from Vad: gate decoding, close segments")
    partial = Output(Partial)
    words = Output(CommittedWord)
    utterance = Output(Utterance)
    # The runtime costs a mode per event, and an event here is one audio frame, so the hints are the mean CPU
    # time per 20 ms frame (RTF × 20 ms, benchmarks/asr_streaming.py: 0.13 at 300 ms, 0.09 at 1 s); measured
    # costs replace them after a few frames. When the budget runs out the runtime takes the cheapest mode: 1 s
    # chunks, the cheaper per second of audio, from the next utterance on. Measured (benchmarks/asr_overload.py,
    # one graph on this 2-core CPU): deep in overload it falls behind less (14 sessions: worst lag 31 vs 48 s
    # with 300 ms pinned), but at the edge it costs latency (10 sessions: p95 8.4 vs 3.5 s); below the edge
    # (6) it never switches. Capacity, not this knob, is what keeps latency: admit fewer sessions. 200 ms chunks
    # are not offered: they cost more per second (RTF 0.17) and miss twice the words (WER 18.4 vs 9.4 %).
    modes = (
        Mode("chunk300", quality=1.0, cost_hint_ms=2.7, params=(("chunk_ms", 300),)),
        Mode("chunk1000", quality=0.6, cost_hint_ms=1.8, params=(("chunk_ms", 1000),)),
    )
    drop_on_interrupt = False  # the user's audio is never dropped by a barge-in

    def __init__(
        self,
        name: str | None = None,
        *,
        model: Any = None,
        config: StreamConfig | None = None,
        size: str = "tiny.en",
        adapter: str | None = "auto",
        offload: bool = True,
        preroll_ms: int = 320,
    ) -> None:
        super().__init__(name or "asr")
        if preroll_ms < 0:
            raise ValueError(f"preroll_ms must be >= 0, got {preroll_ms}")
        self.offload = offload  # run the recognizer in a worker thread (off the event loop)
        self.config = config or StreamConfig()
        self.model = model
        self.size = size
        self.adapter = adapter
        self.core: StreamingRecognizer | None = None
        self.origins = OriginMap()
        self._text: list[str] = []
        self._utt_start_ns: int | None = None
        self._pending_vad: collections.deque[Event] = collections.deque()  # VAD events waiting for their audio
        self._seen_samples = 0  # every sample received (the VAD's stream time)
        self._gated = False  # True once VAD events arrive: silence is then not decoded
        self._in_speech = False
        # recent audio while the VAD says silence: (samples, origin, stream index of the first sample). On speech
        # start, what lies from `preroll_ms` before the VAD's onset (SpeechStart.at_s) on is fed. The onset, not
        # the event: the VAD decides ≥ min_speech_ms after the onset, and a lead measured from the decision left
        # some utterances ~100 ms of lead-in or cut their first sound (the dev set streamed through asr.Vad →
        # this node at 300 ms chunks, 4 stream orders: 15.4 % WER with 320 ms before the event, 12.6 % with
        # 320 ms before the onset).
        self._preroll: collections.deque[tuple[np.ndarray, int, int]] = collections.deque()
        self._preroll_samples = preroll_ms * SAMPLE_RATE // 1000
        self._keep_samples = self._preroll_samples + PREROLL_SLACK_SAMPLES

    async def setup(self, ctx: NodeContext) -> None:
        def load() -> StreamingRecognizer:
            from liveloop.asr.lora import load_adapter_for
            from liveloop.asr.weights import load_whisper

            model = self.model if self.model is not None else load_whisper(self.size, progress=False)
            return StreamingRecognizer(load_adapter_for(model, self.adapter), self.config)

        self.core = await asyncio.to_thread(load) if self.offload else load()  # the model is shared per process

    async def process(self, event: Event, ctx: NodeContext) -> None:
        core = self.core
        assert core is not None
        if event.port == "vad":
            await self._on_vad(event, ctx)
            return
        x = _samples(event.data, self.name)
        pos = self._seen_samples
        self._seen_samples += x.size
        if self._gated and not self._in_speech:  # VAD says silence: keep it as pre-roll, don't decode it
            self._preroll.append((x, event.origin_ns, pos))
            while self._preroll and self._seen_samples - self._preroll[0][2] - self._preroll[0][0].size >= (
                self._keep_samples
            ):
                self._preroll.popleft()
        else:
            await self._feed(x, event, ctx)
        await self._apply_due(ctx)

    async def _feed(self, x: np.ndarray, event: Event, ctx: NodeContext) -> None:
        core = self.core
        assert core is not None
        self.origins.add(x.size, event.origin_ns)  # stream time of the recognizer → capture time
        if self._utt_start_ns is None:
            self._utt_start_ns = event.origin_ns
        chunk_ms = ctx.mode.param("chunk_ms") if ctx.mode is not None else None
        if chunk_ms and chunk_ms != core.config.chunk_ms and not core.has_audio:
            core.set_chunk_ms(int(chunk_ms))  # switch between segments only: a mixed-block utterance decodes worse
        updates = await asyncio.to_thread(core.feed, x) if self.offload else core.feed(x)
        await self._emit(updates, ctx, event)

    async def _on_vad(self, event: Event, ctx: NodeContext) -> None:
        # The runtime serves the inputs in turn, so a VAD event can overtake audio still queued on `audio`
        # (a recognizer behind real time has a backlog). Each event waits for the audio it speaks about and
        # they apply in their own order: a speech start that jumped the queue once opened the next utterance
        # inside the previous one, whose end then closed it and dropped the new speech as silence.
        self._pending_vad.append(event)
        await self._apply_due(ctx)

    async def _apply_due(self, ctx: NodeContext) -> None:
        """Apply the VAD events whose audio is in: a speech start at its onset, an end of utterance once the
        audio up to where the VAD decided it has been seen."""
        while self._pending_vad and self._seen_samples >= _due_sample(self._pending_vad[0].data):
            event = self._pending_vad.popleft()
            self._gated = True  # from the first VAD event on, only speech (and its pre-roll) is decoded
            if isinstance(event.data, SpeechStart):
                await self._start_speech(event, ctx)
            elif isinstance(event.data, EndOfUtterance):
                self._in_speech = False
                await self._finish(ctx, event)

    async def _start_speech(self, event: Event, ctx: NodeContext) -> None:
        self._in_speech = True
        first = round(event.data.at_s * SAMPLE_RATE) - self._preroll_samples  # stream index the lead starts at
        for x, origin, pos in self._preroll:
            if pos + x.size <= first:
                continue
            if pos < first:  # the lead starts inside this frame
                x, origin = x[first - pos :], origin + (first - pos) * NS // SAMPLE_RATE
            await self._feed(x, event._replace(origin_ns=origin), ctx)
        self._preroll.clear()

    async def _emit(self, updates: list[Update], ctx: NodeContext, parent: Event) -> None:
        """Outputs keep the source and path of the audio event (so path budgets from the mic apply) with the
        origin of the instant they are about: a word's end, the end of the audio encoded for a partial."""
        for u in updates:
            for w in u.words:
                self._text.append(w.word)
                at = parent._replace(origin_ns=self.origins.origin_ns(w.end_s))
                await ctx.emit("words", self._word(w), parent=at)
            if not u.final:
                p = Partial(u.partial.strip(), "".join(self._text).strip())
                await ctx.emit("partial", p, parent=parent._replace(origin_ns=self.origins.origin_ns(u.audio_end_s)))

    def _word(self, w: Word) -> CommittedWord:
        return CommittedWord(
            w.word.strip(), w.start_s, w.end_s, self.origins.origin_ns(w.start_s), self.origins.origin_ns(w.end_s)
        )

    async def _finish(self, ctx: NodeContext, parent: Event) -> None:
        core = self.core
        assert core is not None
        speech = self._gated  # a VAD-gated utterance holds speech: its final decode writes something
        end = functools.partial(core.end_segment, speech=speech)
        updates = await asyncio.to_thread(end) if self.offload else end()
        await self._emit(updates, ctx, parent)
        text = "".join(self._text).strip()
        end_ns = self.origins.origin_ns(self.origins.n_samples / SAMPLE_RATE)
        if text:
            utt = Utterance(text, self._utt_start_ns or end_ns, end_ns)
            await ctx.emit("utterance", utt, parent=parent._replace(origin_ns=end_ns))
        self._text = []
        self._utt_start_ns = None

    async def on_flush(self, event: Event, ctx: NodeContext) -> None:
        await self._finish(ctx, event)

    async def on_eos(self, port: str, ctx: NodeContext) -> None:
        if port == "audio" and self.core is not None:
            self._pending_vad.clear()  # no more audio: what they wait for will not come
            if self.core.has_audio:  # an utterance is still open
                await self._finish(ctx, Event(None, 0, 0, self.name))


def _due_sample(ev: object) -> int:
    """The stream index (in samples) a VAD event is about: a speech start's onset, or the point where the
    VAD decided an end of utterance (other events: at once)."""
    if isinstance(ev, SpeechStart):
        return round(ev.at_s * SAMPLE_RATE)
    if isinstance(ev, EndOfUtterance):
        return round(ev.detected_s * SAMPLE_RATE)
    return 0


def with_chunk(config: StreamConfig, chunk_ms: int) -> StreamConfig:
    return replace(config, chunk_ms=chunk_ms)
