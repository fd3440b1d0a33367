"""Asyncio drivers around `SpeechStream`: the voice in a worker thread, text fed, audio pulled.

`run_voice` is the one loop that runs a `Synthesizer` for a stream: it asks the
stream for a span, computes the span's chunks one at a time in a worker thread
(`asyncio.to_thread`, so the event loop keeps serving control events), pushes
each into the stream, and stops a span as soon as `push` refuses a chunk (the
span was cancelled by barge-in). A span the synthesizer has cached
(`synth.cached(words, …)`, liveloop.tts.cache) is replayed on the loop: a
worker thread's hop costs 5–40 ms on a loaded machine, the replay nothing. The `tts.Speaker` node and `say` share it.

`say` is the stand-alone driver used by ``liveloop say`` and the benchmark:
tokens fed at a fixed rate (like an LLM), a consumer that pulls one 20 ms
frame every 20 ms of the clock (like a WebRTC track) or as fast as frames
come, and an optional barge-in at a given time. Every task lives in one
TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock
from liveloop.tts.audio import FRAME_MS, AudioFrame, TextMark
from liveloop.tts.stream import SpeechStream, SpokenReport, StreamConfig
from liveloop.tts.voice import Synthesizer

RECHECK_S = 0.02  # a waiting voice loop re-checks this often (the patience rule depends on time)


async def wait_or_timeout(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for `event` at most `timeout_s`; always yields to the loop (a set event would not)."""
    if event.is_set():
        await asyncio.sleep(0)
        return
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        pass


async def run_voice(
    stream: SpeechStream,
    synth: Synthesizer,
    wake: asyncio.Event,
    clock: Clock,
    on_audio: Callable[[], Awaitable[None]] | None = None,
    stop_when_drained: bool = False,
) -> None:
    """Synthesize what `stream` schedules, forever (or until drained); cancel the task to stop."""
    while True:
        wake.clear()
        span = stream.next_span(clock.now_ns())
        if span is None:
            if stop_when_drained and stream.scheduler.drained and not stream.has_pending_span:
                return
            await wait_or_timeout(wake, RECHECK_S)
            continue
        join_head, join_tail = stream.joins(span)
        chunks = iter(synth.stream(span.words, join_head=join_head, join_tail=join_tail))
        cached = getattr(synth, "cached", None)  # a span replayed from a cache needs no worker thread
        inline = cached is not None and cached(span.words, join_head=join_head, join_tail=join_tail)
        try:
            while True:
                chunk = next(chunks, None) if inline else await asyncio.to_thread(next, chunks, None)
                if chunk is None:
                    break
                if not stream.push(span, chunk, clock.now_ns()):
                    break  # barge-in cancelled this span
                if on_audio is not None:
                    await on_audio()
                while not stream.has_room and stream.is_current(span):
                    wake.clear()
                    await wait_or_timeout(wake, RECHECK_S)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                # ValueError: still running in its worker thread (task cancelled); it ends with that chunk
                with contextlib.suppress(ValueError):
                    close()
        stream.span_done(span, clock.now_ns())
        if on_audio is not None:
            await on_audio()


@dataclass(slots=True)
class SayResult:
    """What one `say` run produced and how fast."""

    frames: list[AudioFrame] = field(default_factory=list)
    marks: list[tuple[TextMark, int]] = field(default_factory=list)  # (mark, ns it was handed out)
    first_token_ns: int = 0
    first_audio_ns: int | None = None
    first_frame_out_ns: int | None = None
    last_audio_ns: int | None = None  # last chunk pushed
    end_ns: int = 0
    audio_ms: float = 0.0
    compute_ms: float = 0.0
    underruns: int = 0
    spans: list[str] = field(default_factory=list)
    reports: list[SpokenReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupt_ns: int | None = None
    last_frame_after_interrupt_ns: int | None = None
    frames_after_interrupt: int = 0

    def ms_since_first_token(self, t_ns: int | None) -> float | None:
        return None if t_ns is None else (t_ns - self.first_token_ns) / NS_PER_MS

    @property
    def first_audio_ms(self) -> float | None:
        return self.ms_since_first_token(self.first_audio_ns)

    @property
    def rtf(self) -> float:
        return self.compute_ms / self.audio_ms if self.audio_ms else 0.0

    @property
    def total_ms(self) -> float | None:
        return self.ms_since_first_token(self.last_audio_ns)

    @property
    def barge_in_ms(self) -> float | None:
        """Interrupt → last frame handed out (0 if none came after the interrupt was asked for)."""
        if self.interrupt_ns is None:
            return None
        last = self.last_frame_after_interrupt_ns
        return 0.0 if last is None else (last - self.interrupt_ns) / NS_PER_MS

    def pcm(self) -> np.ndarray:
        """All frames handed out, concatenated: (N,) int16."""
        if not self.frames:
            return np.zeros(0, np.int16)
        return np.concatenate([f.samples for f in self.frames])


async def say(
    tokens: Sequence[str],
    synth: Synthesizer,
    config: StreamConfig | None = None,
    *,
    tokens_per_s: float | None = 20.0,
    paced: bool = True,
    interrupt_after_ms: float | None = None,
    clock: Clock | None = None,
) -> SayResult:
    """Speak `tokens` (fed at `tokens_per_s`, or all at once if None) and collect the output.

    paced: pull one 20 ms frame per 20 ms of the clock once playback starts (a real-time sink);
    otherwise take frames as soon as they are playable. interrupt_after_ms: barge in that long
    after the first frame went out.
    """
    if tokens_per_s is not None and not 0 < tokens_per_s <= 1000:
        raise ValueError(f"tokens_per_s must be in (0, 1000], got {tokens_per_s}")
    clock = clock or MonotonicClock()
    stream = SpeechStream(synth.sample_rate, config)
    wake = asyncio.Event()
    res = SayResult()
    fed_all = asyncio.Event()
    done = asyncio.Event()

    async def feeder() -> None:
        t0 = clock.now_ns()
        res.first_token_ns = t0
        for i, tok in enumerate(tokens):
            if tokens_per_s is not None and i:
                await clock.sleep_until(t0 + round(i * NS_PER_S / tokens_per_s))
            while not stream.wants_text:  # back-pressure: the scheduler holds enough text
                await clock.sleep(FRAME_MS / 1000)
            if res.interrupt_ns is not None:
                return  # barge-in: the rest of the text is not said
            stream.feed(tok, clock.now_ns())
            wake.set()
        stream.finish(clock.now_ns())
        fed_all.set()
        wake.set()

    def collect(items: list[AudioFrame | TextMark], now: int) -> None:
        for it in items:
            if isinstance(it, TextMark):
                res.marks.append((it, now))
                continue
            res.frames.append(it)
            if res.interrupt_ns is not None:
                res.frames_after_interrupt += 1
                res.last_frame_after_interrupt_ns = now
        res.reports.extend(stream.reports())

    async def player() -> None:
        n = 0  # 20 ms ticks of the real-time sink since its first frame
        start: int | None = None
        while True:
            now = clock.now_ns()
            items = stream.pull(now) if paced else stream.release(now)
            if items:
                if start is None:
                    start = now
                collect(items, now)
                wake.set()
            res.reports.extend(stream.reports())
            if fed_all.is_set() and stream.idle:
                break
            if paced and start is not None:  # one pull per 20 ms, frame or not (an empty tick is an underrun)
                n += 1
                await clock.sleep_until(start + n * FRAME_MS * NS_PER_MS)
            elif not items:
                await clock.sleep(0.002)
        done.set()

    async def interrupter() -> None:
        assert interrupt_after_ms is not None
        while stream.stats.first_frame_out_ns is None and not done.is_set():
            await clock.sleep(0.002)
        if done.is_set():
            return
        await clock.sleep_until(stream.stats.first_frame_out_ns + round(interrupt_after_ms * NS_PER_MS))
        if done.is_set():
            return
        res.interrupt_ns = clock.now_ns()
        res.reports.append(stream.interrupt(res.interrupt_ns))
        stream.finish(clock.now_ns())
        fed_all.set()
        wake.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(feeder())
        voice = tg.create_task(run_voice(stream, synth, wake, clock))
        tg.create_task(player())
        if interrupt_after_ms is not None:
            tg.create_task(interrupter())
        await done.wait()
        voice.cancel()
    st = stream.stats
    res.first_audio_ns = st.first_audio_ns
    res.first_frame_out_ns = st.first_frame_out_ns
    res.last_audio_ns = stream.last_audio_ns
    res.end_ns = clock.now_ns()
    res.audio_ms = st.audio_ms
    res.compute_ms = st.compute_ms
    res.underruns = st.underruns
    res.spans = [t for _, _, t in st.spans]
    res.warnings = [str(w) for w in st.warnings]
    return res
