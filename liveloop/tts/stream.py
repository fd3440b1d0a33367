"""The streaming speech core (sans-I/O): tokens in, interleaved marks and 20 ms frames out, barge-in.

`SpeechStream` ties the scheduler, the voice's chunks and the framer together;
it never waits, sleeps or runs the voice itself — the adapter does that and
tells it what happened::

    stream.feed(token, now_ns)                   text arrives (an LLM, the responder)
    span = stream.next_span(now_ns)              the synthesizer is free: what to say next (or None)
    stream.push(span, chunk, now_ns) -> bool     a voice chunk is ready (False: the span was cancelled)
    stream.span_done(span, now_ns)               the voice finished the span
    stream.pull(now_ns) -> [TextMark…, AudioFrame] | []   the consumer wants the next 20 ms
    stream.release(now_ns) -> [...]              or: everything playable now (a node hands frames downstream)
    stream.interrupt(now_ns) -> SpokenReport     barge-in

Order of the output: each `TextMark` comes just before the frame holding the
sample where its word starts, so captions and sound stay aligned.

**Playback start.** Output is held back until enough audio is queued that the
voice will not fall behind the listener: at least `min_prebuffer_ms`, and at
least the measured stall before a span's first audio (front end + first
decoder window, an EMA) times `stall_safety`, plus ``(rtf - 1) ×`` the audio
still to come when the voice is slower than real time (rtf = compute time /
audio time, an EMA of this process's measurements). Once everything is
synthesized — or the voice is idle because the schedule waits for more text
— playback starts at once. With `start_at_first_chunk` (a voice agent: the
first sample is what the user waits for) playback starts with the first chunk
while the voice keeps up with real time (rtf ≤ 1): the voice's growing decoder
windows have the next chunk ready before the first has played, so the stall
rule, which would hold the first chunk back until a second one is made, is
not needed for it.

**Barge-in.** `interrupt` drops the queued frames and marks and every word not
yet synthesized, and bumps a generation number so chunks still in flight are
refused by `push`; it returns what the listener actually heard: the words whose
start sample had been played.

**Bounds.** At most `max_queued_ms` of audio waits in the queue: `next_span`
returns None and `has_room` is False beyond it, so a very long text streams
with bounded memory.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from liveloop.graph.clock import NS_PER_MS
from liveloop.tts.audio import FRAME_MS, AudioFrame, Framer, TextMark
from liveloop.tts.schedule import InterleavingScheduler, SchedulerConfig, Span
from liveloop.tts.text import Boundary, TextWarning
from liveloop.tts.voice import SynthChunk


class PlayState(enum.Enum):
    IDLE = "idle"  # nothing to say
    BUFFERING = "buffering"  # audio is being made, playback not started
    PLAYING = "playing"
    DRAINING = "draining"  # all synthesized, playing out the rest


@dataclass(frozen=True, slots=True)
class StreamConfig:
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    output_rate_hz: int = 48_000
    min_prebuffer_ms: float = 40.0
    stall_safety: float = 1.5
    prior_stall_ms: float = 120.0  # before anything was measured
    prior_rtf: float = 0.3
    max_queued_ms: float = 3000.0
    start_at_first_chunk: bool = False  # play an utterance's first chunk at once (while rtf ≤ 1)

    def __post_init__(self) -> None:
        if self.min_prebuffer_ms < 0:
            raise ValueError(f"min_prebuffer_ms must be >= 0, got {self.min_prebuffer_ms}")
        if self.stall_safety < 1.0:
            raise ValueError(f"stall_safety must be >= 1, got {self.stall_safety}")
        if self.max_queued_ms < 200:
            raise ValueError(f"max_queued_ms must be >= 200, got {self.max_queued_ms}")
        if self.prior_rtf <= 0 or self.prior_stall_ms < 0:
            raise ValueError(
                f"prior_rtf must be > 0 and prior_stall_ms >= 0, got {self.prior_rtf}, {self.prior_stall_ms}"
            )


@dataclass(frozen=True, slots=True)
class SpokenReport:
    """What the listener heard of an utterance (on barge-in or at its end)."""

    utterance: int
    spoken_text: str  # words whose first sample was played
    complete: bool  # the whole utterance was played (no barge-in)
    interrupted: bool
    played_ms: float
    dropped_frames: int  # queued frames discarded by the interrupt
    dropped_words: int  # words never synthesized or never played
    at_ns: int


@dataclass(slots=True)
class StreamStats:
    first_token_ns: int | None = None
    first_audio_ns: int | None = None  # first chunk pushed (first sample ready)
    first_frame_out_ns: int | None = None  # first frame pulled / released
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (utterance, index, text)
    audio_ms: float = 0.0
    compute_ms: float = 0.0
    underruns: int = 0
    frames_out: int = 0
    warnings: list[TextWarning] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.compute_ms / self.audio_ms if self.audio_ms else 0.0


class SpeechStream:
    """One session's speech output. Not thread-safe: call it from one thread (the event loop)."""

    def __init__(self, sample_rate_hz: int, config: StreamConfig | None = None) -> None:
        self.config = config or StreamConfig()
        self.voice_rate_hz = sample_rate_hz
        self.scheduler = InterleavingScheduler(self.config.scheduler)
        self.framer = Framer(sample_rate_hz, self.config.output_rate_hz)
        self.stats = StreamStats()
        self.state = PlayState.IDLE
        self.generation = 0
        self._frames: deque[AudioFrame] = deque()
        self._marks: deque[TextMark] = deque()
        self._in_flight: Span | None = None
        self._span_base = 0  # voice-rate sample where the in-flight span starts
        self._voice_samples = 0  # voice-rate samples pushed this utterance
        self._released_samples = 0  # output samples handed out this utterance
        self._play_start_ns: int | None = None
        self._heard: list[TextMark] = []  # marks handed out this utterance
        self._all_synthesized = False
        self._stall_ema_ms = self.config.prior_stall_ms
        self._rtf_ema = self.config.prior_rtf
        self._span_asked_ns = 0
        self._span_first = True
        self._reports: list[SpokenReport] = []
        self.last_audio_ns: int | None = None
        self._in_flight_prev: Span | None = None  # the span before the one in flight, for joins
        self._prev_boundary = Boundary.SENTENCE

    # -- text in ----------------------------------------------------------------------
    def feed(self, token: str, now_ns: int) -> list[TextWarning]:
        if self.stats.first_token_ns is None and token:
            self.stats.first_token_ns = now_ns
        if token and self.state is PlayState.IDLE:
            self.state = PlayState.BUFFERING
        elif token and self.state is PlayState.DRAINING:  # more text before the last one finished playing
            self.state = PlayState.PLAYING
            self._all_synthesized = False
        w = self.scheduler.feed(token, now_ns)
        self.stats.warnings.extend(w)
        return w

    def finish(self, now_ns: int) -> list[TextWarning]:
        w = self.scheduler.finish(now_ns)
        self.stats.warnings.extend(w)
        self._check_all_synthesized()
        return w

    @property
    def wants_text(self) -> bool:
        return not self.scheduler.is_full

    # -- the voice ----------------------------------------------------------------------
    @property
    def has_pending_span(self) -> bool:
        return self._in_flight is not None

    def is_current(self, span: Span) -> bool:
        return span is self._in_flight

    @property
    def idle(self) -> bool:
        """Nothing to say and nothing being said."""
        return self.state is PlayState.IDLE and self._in_flight is None and not self._frames and self.scheduler.drained

    @property
    def queued_ms(self) -> float:
        return len(self._frames) * FRAME_MS

    @property
    def has_room(self) -> bool:
        return self.queued_ms < self.config.max_queued_ms

    def ahead_ms(self, now_ns: int) -> float:
        """Audio made but not yet heard."""
        rate = self.config.output_rate_hz
        made_ms = 1000.0 * self.framer.to_out_samples(self._voice_samples) / rate
        if self._play_start_ns is None:
            return made_ms
        played_ms = min(1000.0 * self._released_samples / rate, (now_ns - self._play_start_ns) / NS_PER_MS)
        return max(0.0, made_ms - played_ms)

    def joins(self, span: Span) -> tuple[bool, bool]:
        """(join_head, join_tail) for the voice: does `span` continue a phrase before / after it?"""
        head = span.index > 0 and self._prev_boundary is Boundary.NONE
        tail = not span.final and span.boundary is Boundary.NONE
        return head, tail

    def next_span(self, now_ns: int) -> Span | None:
        """What the voice should say next; None while a span is in flight, the queue is full or text is short."""
        if self._in_flight is not None or not self.has_room:
            return None
        span = self.scheduler.next_span(now_ns, self.ahead_ms(now_ns))
        if span is None:
            return None
        if self._in_flight_prev is not None:
            self._prev_boundary = self._in_flight_prev.boundary
        self._in_flight_prev = span
        self._in_flight = span
        self._span_base = self._voice_samples
        self._span_asked_ns = now_ns
        self._span_first = True
        self.stats.spans.append((span.utterance, span.index, span.text))
        return span

    def push(self, span: Span, chunk: SynthChunk, now_ns: int) -> bool:
        """Audio for the in-flight span; False if that span was cancelled (drop the chunk, stop the voice)."""
        if span is not self._in_flight:
            return False
        if self.stats.first_audio_ns is None and len(chunk.samples):
            self.stats.first_audio_ns = now_ns
        self.last_audio_ns = now_ns
        if self._span_first:
            self._span_first = False
            stall_ms = (now_ns - self._span_asked_ns) / NS_PER_MS
            self._stall_ema_ms = 0.7 * self._stall_ema_ms + 0.3 * stall_ms
        audio_ms = 1000.0 * len(chunk.samples) / self.voice_rate_hz
        self.stats.audio_ms += audio_ms
        self.stats.compute_ms += 1000.0 * chunk.compute_s
        if audio_ms > 0:
            self._rtf_ema = 0.8 * self._rtf_ema + 0.2 * (1000.0 * chunk.compute_s / audio_ms)
        for w in chunk.words:
            pos = self.framer.to_out_samples(self._span_base + w.start)
            self._marks.append(TextMark(w.text, pos, self.framer.utterance, span.index, w.index))
        self._voice_samples = self._span_base + chunk.offset + len(chunk.samples)
        self._frames.extend(self.framer.feed(chunk.samples))
        return True

    def span_done(self, span: Span, now_ns: int) -> None:
        """The voice finished `span` (all its chunks were pushed, or it yielded nothing)."""
        if span is not self._in_flight:
            return
        self._in_flight = None
        if span.final:
            self._frames.extend(self.framer.flush())
        self._check_all_synthesized()

    def _check_all_synthesized(self) -> None:
        drained = self.scheduler.drained and self._in_flight is None
        if drained and self.state is PlayState.BUFFERING and not self._frames:
            self.state = PlayState.IDLE  # the text had nothing speakable in it
            return
        if self.scheduler.drained and self._in_flight is None and self.state is not PlayState.IDLE:
            self._all_synthesized = True
            if self.state is PlayState.PLAYING:
                self.state = PlayState.DRAINING

    # -- audio out ----------------------------------------------------------------------
    def prebuffer_ms(self) -> float:
        """Audio to queue before playback starts (see the module docstring)."""
        cfg = self.config
        need = max(cfg.min_prebuffer_ms, cfg.stall_safety * self._stall_ema_ms)
        if self._rtf_ema > 1.0:
            need += (self._rtf_ema - 1.0) * 1000.0 * self._words_pending_estimate_s()
        return need

    def _words_pending_estimate_s(self) -> float:
        return 0.3 * self.scheduler.buffered_words  # ≈ 0.3 s of speech per English word

    def _ready_to_play(self) -> bool:
        if self.state is PlayState.PLAYING or self.state is PlayState.DRAINING:
            return True
        if self.state is not PlayState.BUFFERING or not self._frames:
            return False
        if self._all_synthesized or self.queued_ms >= self.prebuffer_ms():
            return True
        if self.config.start_at_first_chunk and self._rtf_ema <= 1.0:
            return True
        # the voice is idle because the schedule waits for text: holding audio back helps no one
        return self._in_flight is None and self.scheduler.waiting_for_text(self.ahead_ms(0))

    def pull(self, now_ns: int) -> list[AudioFrame | TextMark]:
        """The next 20 ms for a consumer-paced sink (marks due within it first); [] if nothing to play."""
        if not self._ready_to_play():
            return []
        if not self._frames:
            if self.state is PlayState.PLAYING:
                self.stats.underruns += 1
            self._maybe_end(now_ns)
            return []
        out = self._take(now_ns)
        self._maybe_end(now_ns)
        return out

    def release(self, now_ns: int) -> list[AudioFrame | TextMark]:
        """Every frame playable now, in order (for a node whose sink paces the audio)."""
        out: list[AudioFrame | TextMark] = []
        while self._ready_to_play() and self._frames:
            out.extend(self._take(now_ns))
        self._maybe_end(now_ns)
        return out

    def _take(self, now_ns: int) -> list[AudioFrame | TextMark]:
        if self._play_start_ns is None:
            self._play_start_ns = now_ns
            if self.stats.first_frame_out_ns is None:
                self.stats.first_frame_out_ns = now_ns
        if self.state is PlayState.BUFFERING:
            self.state = PlayState.DRAINING if self._all_synthesized else PlayState.PLAYING
        frame = self._frames.popleft()
        out: list[AudioFrame | TextMark] = []
        end = frame.start + len(frame.samples)
        while self._marks and self._marks[0].position < end:
            m = self._marks.popleft()
            self._heard.append(m)
            out.append(m)
        out.append(frame)
        self._released_samples = end
        self.stats.frames_out += 1
        return out

    def _maybe_end(self, now_ns: int) -> None:
        if self.state is PlayState.DRAINING and not self._frames and self._in_flight is None:
            self._reports.append(self._report(now_ns, interrupted=False, dropped_frames=0, dropped_words=0))
            self._new_utterance()

    def reports(self) -> list[SpokenReport]:
        """Utterance-end reports since the last call."""
        out, self._reports = self._reports, []
        return out

    # -- barge-in -------------------------------------------------------------------------
    def interrupt(self, now_ns: int) -> SpokenReport:
        """Stop now: drop queued audio, marks and text; return what was heard."""
        dropped_frames = len(self._frames)
        dropped_words = len(self.scheduler.reset()) + len(self._marks)
        self.generation += 1
        report = self._report(now_ns, interrupted=True, dropped_frames=dropped_frames, dropped_words=dropped_words)
        self._frames.clear()
        self._marks.clear()
        self._in_flight = None
        self._in_flight_prev = None
        self._prev_boundary = Boundary.SENTENCE
        self.framer.reset()
        self._new_utterance(framer_reset=False)
        return report

    def _report(self, now_ns: int, *, interrupted: bool, dropped_frames: int, dropped_words: int) -> SpokenReport:
        rate = self.config.output_rate_hz
        played = self._released_samples
        if self._play_start_ns is not None and interrupted:
            # a sink paced in real time has played no more than the time since playback started
            played = min(played, int((now_ns - self._play_start_ns) * rate // 1_000_000_000))
        heard = [m.text for m in self._heard if m.position < played]
        return SpokenReport(
            utterance=self.framer.utterance,
            spoken_text=" ".join(heard),
            complete=not interrupted,
            interrupted=interrupted,
            played_ms=1000.0 * played / rate,
            dropped_frames=dropped_frames,
            dropped_words=dropped_words + (len(self._heard) - len(heard)),
            at_ns=now_ns,
        )

    def _new_utterance(self, framer_reset: bool = True) -> None:
        if framer_reset:
            self.framer.reset()
        self.state = PlayState.IDLE
        self._heard = []
        self._voice_samples = 0
        self._released_samples = 0
        self._span_base = 0
        self._play_start_ns = None
        self._all_synthesized = False
