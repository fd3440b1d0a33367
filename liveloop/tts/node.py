"""`tts.Speaker`: the streaming voice as a graph node.

    text (str tokens, block(64)) ──► Speaker ──► audio  (AudioFrame, 20 ms, output rate)
                                             ├─► marks  (TextMark: a word and the sample it starts at)
                                             └─► spoken (SpokenReport: what the listener heard)

Tokens arrive as an LLM or the responder emits them. A FLUSH or end of stream
on the text input ends the utterance (what is held back is spoken); an
INTERRUPT on the control lane is barge-in: pending text is dropped by the
runtime, `SpeechStream.interrupt` drops queued audio and cancels the span in
flight, a `SpokenReport` says what was heard, and the interrupt is forwarded
so the sink drops what it queued too.

The voice runs in a worker thread, one decoder window at a time, in a task
the node's TaskGroup owns (`run` wraps the runtime's `serve`). Frames go out
as soon as the playback rule releases them; the sink (WebRTC track, WebSocket
sender) paces them.

Budgets (declare them on the graph, e.g. ``g.budget("llm.text", "tts.audio", ms=100)``):
the first audio frame of an utterance inherits the origin of the utterance's
first text token, so a DATA budget from the text source to ``audio`` measures
"first text token in → first audio frame out". Later frames carry their own
origin (they are not late: they are paced by the sink). An INTERRUPT budget
(``kind=EventKind.INTERRUPT``) from the barge-in source to ``audio`` measures
interrupt → audio stopped here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from liveloop.graph.channel import Block
from liveloop.graph.event import Event
from liveloop.graph.node import Input, Node, Output
from liveloop.tts.audio import AudioFrame, TextMark
from liveloop.tts.driver import RECHECK_S, run_voice, wait_or_timeout
from liveloop.tts.stream import SpeechStream, SpokenReport, StreamConfig
from liveloop.tts.voice import PiperSynthesizer, Synthesizer, VoiceConfig

if TYPE_CHECKING:
    from liveloop.graph.runtime import NodeContext

log = logging.getLogger(__name__)


class Speaker(Node):
    """Streaming text-to-speech with interleaved text marks and barge-in."""

    text = Input(str, Block(64), doc="text tokens (words or sub-words, as an LLM streams them)")
    audio = Output(AudioFrame, doc="20 ms mono int16 frames at the configured rate")
    marks = Output(TextMark, doc="each word, before the frame where it starts")
    spoken = Output(SpokenReport, doc="what was heard: at the end of an utterance or on barge-in")

    def __init__(
        self,
        name: str | None = None,
        *,
        stream: StreamConfig | None = None,
        voice: VoiceConfig | None = None,
        synthesizer: Synthesizer | None = None,
    ) -> None:
        super().__init__(name or "tts")
        self.stream_config = stream or StreamConfig()
        self.voice_config = voice or VoiceConfig()
        self.synth: Synthesizer | None = synthesizer
        self.stream: SpeechStream | None = None
        self._wake = asyncio.Event()  # the voice loop: new text, room, an interrupt
        self._progress = asyncio.Event()  # audio went out: waiters for room or for the end
        self._utt_parent: Event | None = None  # the first token of the utterance being spoken
        self._first_sent = False
        self.rejected_tokens = 0
        self.frames_after_interrupt = 0
        self._interrupted_gen = -1

    async def setup(self, ctx: NodeContext) -> None:
        if self.synth is None:  # the voice is shared by every Speaker in the process
            self.synth = await asyncio.to_thread(PiperSynthesizer, self.voice_config)
        self.stream = SpeechStream(self.synth.sample_rate, self.stream_config)

    async def run(self, ctx: NodeContext) -> None:
        assert self.synth is not None and self.stream is not None, "setup() loads the voice"

        async def on_audio() -> None:
            await self._release(ctx)

        async with asyncio.TaskGroup() as tg:
            voice = tg.create_task(run_voice(self.stream, self.synth, self._wake, ctx.clock, on_audio))
            try:
                await ctx.serve(self)
            finally:
                voice.cancel()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        stream = self.stream
        assert stream is not None
        tok = event.data
        if not isinstance(tok, str):
            self.rejected_tokens += 1
            log.warning("tts node %r: text tokens must be str, got %s; skipped", self.name, type(tok).__name__)
            return
        if self._utt_parent is None and tok.strip():
            self._utt_parent = event
            self._first_sent = False
        for w in stream.feed(tok, ctx.now_ns()):
            log.warning("tts node %r: %s", self.name, w)
        self._wake.set()
        while not stream.wants_text:  # back-pressure: the text input's edge fills up behind us
            self._progress.clear()
            await wait_or_timeout(self._progress, RECHECK_S)

    async def on_flush(self, event: Event, ctx: NodeContext) -> None:
        self._finish(ctx)

    async def on_eos(self, port: str, ctx: NodeContext) -> None:
        """End of the text: speak what is held back, and return once it has all gone out."""
        stream = self.stream
        assert stream is not None
        self._finish(ctx)
        while not stream.idle:
            self._progress.clear()
            await wait_or_timeout(self._progress, RECHECK_S)

    def _finish(self, ctx: NodeContext) -> None:
        assert self.stream is not None
        for w in self.stream.finish(ctx.now_ns()):
            log.warning("tts node %r: %s", self.name, w)
        self._wake.set()

    async def on_interrupt(self, event: Event, ctx: NodeContext) -> None:
        stream = self.stream
        assert stream is not None
        report = stream.interrupt(ctx.now_ns())
        self._interrupted_gen = stream.generation
        self._utt_parent = None
        self._wake.set()
        await ctx.emit("spoken", report, parent=event)

    async def _release(self, ctx: NodeContext) -> None:
        stream = self.stream
        assert stream is not None
        gen = stream.generation
        for item in stream.release(ctx.now_ns()):
            if stream.generation != gen:  # barge-in while we waited on a full edge: the rest is void
                break
            if isinstance(item, TextMark):
                await ctx.emit("marks", item, parent=self._utt_parent if not self._first_sent else None)
                continue
            if not self._first_sent and self._utt_parent is not None:
                self._first_sent = True
                await ctx.emit("audio", item, parent=self._utt_parent)
            else:
                await ctx.emit("audio", item)
        for report in stream.reports():
            await ctx.emit("spoken", report)
            self._utt_parent = None
        self._wake.set()
        self._progress.set()
