"""The sans-I/O speech core: marks aligned with audio, playback rule, barge-in, bounds — no event loop.

Voice chunks here are scripted arrays (a fixture of what a voice returns), so
positions can be checked exactly; the real voice runs in test_voice/test_driver.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.tts.audio import AudioFrame, TextMark
from liveloop.tts.schedule import SchedulerConfig
from liveloop.tts.stream import PlayState, SpeechStream, StreamConfig
from liveloop.tts.voice import SynthChunk, WordTiming

VOICE_HZ = 24_000  # a round rate so positions are exact: 480 samples = 20 ms
MS = 1_000_000


def make(**kw: object) -> SpeechStream:
    sched = SchedulerConfig(tokens_are_words=True, steps=((1, 10),))
    return SpeechStream(VOICE_HZ, StreamConfig(scheduler=sched, output_rate_hz=24_000, **kw))  # type: ignore[arg-type]


def chunk(words: list[tuple[int, str, int]], n: int, offset: int = 0, compute_s: float = 0.01) -> SynthChunk:
    samples = (0.1 * np.sin(np.arange(n) / 5.0)).astype(np.float32)
    return SynthChunk(samples, offset, tuple(WordTiming(i, t, s) for i, t, s in words), compute_s)


def drain(s: SpeechStream, now: int = 0) -> list[AudioFrame | TextMark]:
    out: list[AudioFrame | TextMark] = []
    while items := s.pull(now):
        out += items
    return out


def test_marks_come_just_before_the_frame_holding_their_sample() -> None:
    s = make(min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed("Hello", 0)
    s.feed(" there.", 1)
    span = s.next_span(2)
    assert span is not None and span.words == ("Hello", "there.")
    assert s.push(span, chunk([(0, "Hello", 0), (1, "there.", 4_900)], 9_600), 3)  # 0.4 s, 2nd word at 204 ms
    s.span_done(span, 4)
    out = drain(s)
    kinds = ["M" if isinstance(x, TextMark) else "F" for x in out]
    assert kinds[0] == "M" and kinds.count("F") == 20
    marks = [x for x in out if isinstance(x, TextMark)]
    assert [(m.text, m.position) for m in marks] == [("Hello", 0), ("there.", 4_900)]
    i = out.index(marks[1])
    nxt = out[i + 1]
    assert isinstance(nxt, AudioFrame) and nxt.start <= 4_900 < nxt.start + len(nxt.samples)  # aligned


def test_mark_positions_follow_the_output_rate() -> None:
    s = SpeechStream(22_050, StreamConfig(scheduler=SchedulerConfig(tokens_are_words=True), output_rate_hz=48_000))
    s.feed("Hi.", 0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "Hi.", 22_050 // 2)], 22_050), 0)
    assert s._marks[0].position == 24_000  # 0.5 s at 48 kHz


def test_chunks_of_later_spans_are_placed_after_earlier_audio() -> None:
    s = make(min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed("One.", 0)
    a = s.next_span(0)
    assert a is not None
    s.push(a, chunk([(0, "One.", 0)], 4_800), 0)
    s.span_done(a, 0)
    s.feed(" Two.", 0)
    b = s.next_span(0)
    assert b is not None
    s.push(b, chunk([(0, "Two.", 240)], 4_800), 0)
    marks = list(s._marks)
    assert [m.position for m in marks] == [0, 4_800 + 240]
    assert [m.span for m in marks] == [0, 1]


def test_playback_waits_for_the_prebuffer_then_starts() -> None:
    s = make(min_prebuffer_ms=100, prior_stall_ms=0)
    s.feed("Hello", 0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "Hello", 0)], 1_440), 1 * MS)  # 60 ms: not enough
    assert s.pull(1 * MS) == [] and s.state is PlayState.BUFFERING
    s.push(span, chunk([], 1_440, offset=1_440), 2 * MS)  # 120 ms queued
    assert s.pull(2 * MS)  # starts
    assert s.state is PlayState.PLAYING and s.stats.first_frame_out_ns == 2 * MS


def test_start_at_first_chunk_plays_it_at_once_unless_the_voice_is_slower_than_real_time() -> None:
    s = make(min_prebuffer_ms=0, prior_stall_ms=150, start_at_first_chunk=True)  # the stall rule would hold it
    s.feed("Hello there", 0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "Hello", 0)], 1_920), 1 * MS)  # 80 ms < 150 ms of measured stall
    assert s.pull(1 * MS) and s.state is PlayState.PLAYING
    slow = make(min_prebuffer_ms=0, prior_stall_ms=150, start_at_first_chunk=True)
    slow._rtf_ema = 1.2  # an overloaded voice: the prebuffer rule holds again
    slow.feed("Hello there", 0)
    span = slow.next_span(0)
    assert span is not None
    slow.push(span, chunk([(0, "Hello", 0)], 1_920, compute_s=0.1), 1 * MS)
    assert slow.pull(1 * MS) == [] and slow.state is PlayState.BUFFERING


def test_prebuffer_grows_with_measured_stall_and_rtf() -> None:
    s = make(min_prebuffer_ms=10, prior_stall_ms=100, stall_safety=2.0, prior_rtf=0.2)
    assert s.prebuffer_ms() == pytest.approx(200.0)
    s.feed("a b c d e f g h i j k l", 0)  # words waiting, voice slower than real time
    s._rtf_ema = 1.5
    assert s.prebuffer_ms() > 200.0


def test_everything_synthesized_starts_playback_at_once() -> None:
    s = make(min_prebuffer_ms=1000)
    s.feed("Hi.", 0)
    s.finish(0)
    span = s.next_span(0)
    assert span is not None and span.final
    s.push(span, chunk([(0, "Hi.", 0)], 960), 0)  # 40 ms, far below the prebuffer
    s.span_done(span, 0)
    assert s.pull(0)


def test_utterance_end_reports_everything_heard() -> None:
    s = make(min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed("All done.", 0)
    s.finish(0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "All", 0), (1, "done.", 2_400)], 4_800), 0)
    s.span_done(span, 0)
    drain(s)
    (report,) = s.reports()
    assert report.complete and not report.interrupted and report.spoken_text == "All done."
    assert s.idle and s.state is PlayState.IDLE


def test_barge_in_drops_queued_audio_and_reports_what_was_heard() -> None:
    s = make(min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed("one", 0)
    span = s.next_span(0)
    assert span is not None and len(span.words) == 1
    for w in [" two", " three", " four"]:
        s.feed(w, 0)
    s.push(span, chunk([(0, "one", 0)], 4_800), 0)
    s.span_done(span, 0)
    span2 = s.next_span(0)
    assert span2 is not None and span2.words == ("two", "three", "four")
    s.push(span2, chunk([(0, "two", 0), (1, "three", 4_800), (2, "four", 9_600)], 14_400), 0)
    t0 = 0
    for k in range(15):  # 300 ms played: "one" and "two" started, "three" (at 400 ms) not yet
        s.pull(t0 + k * 20 * MS)
    queued = len(s._frames)
    report = s.interrupt(300 * MS)
    assert report.interrupted and not report.complete
    assert report.spoken_text == "one two"
    assert report.dropped_frames == queued > 0
    assert report.played_ms == pytest.approx(300.0)
    assert s._frames == s._marks == type(s._frames)()  # queues empty
    # the span still in flight is refused: its audio never plays
    assert not s.push(span2, chunk([], 4_800, offset=14_400), 310 * MS)
    assert s.pull(320 * MS) == [] and s.state is PlayState.IDLE


def test_barge_in_counts_only_what_a_real_time_sink_played() -> None:
    """release() hands frames out at once; the report counts what the clock says was played."""
    s = make(min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed("alpha", 0)
    s.feed(" beta", 0)
    s.finish(0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "alpha", 0), (1, "beta", 12_000)], 24_000), 0)  # 1 s, "beta" at 0.5 s
    assert len([x for x in s.release(0) if isinstance(x, AudioFrame)]) == 50
    report = s.interrupt(200 * MS)  # only 200 ms could have been played
    assert report.spoken_text == "alpha" and report.played_ms == pytest.approx(200.0)


def test_queue_is_bounded_for_long_text() -> None:
    s = make(max_queued_ms=400, min_prebuffer_ms=0, prior_stall_ms=0)
    s.feed(" ".join(["word"] * 300) + " ", 0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([], 12_000), 0)  # 500 ms queued > 400
    s.span_done(span, 0)
    assert not s.has_room and s.next_span(0) is None  # the voice waits
    for _ in range(10):
        s.pull(0)
    assert s.has_room and s.next_span(0) is not None


def test_empty_text_never_starts() -> None:
    s = make()
    s.feed("", 0)
    s.finish(0)
    assert s.next_span(0) is None and s.pull(0) == [] and s.idle


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="stall_safety must be"):
        StreamConfig(stall_safety=0.5)
    with pytest.raises(ValueError, match="max_queued_ms must be"):
        StreamConfig(max_queued_ms=10)


def test_unspeakable_text_returns_to_idle() -> None:
    s = make()
    s.feed("\x00😀", 0)
    s.finish(0)
    assert s.next_span(0) is None and s.idle and s.state is PlayState.IDLE


def test_audio_plays_when_the_voice_is_idle_waiting_for_text() -> None:
    s = SpeechStream(VOICE_HZ, StreamConfig(scheduler=SchedulerConfig(tokens_are_words=True), output_rate_hz=24_000))
    s.feed("Okay", 0)
    span = s.next_span(0)
    assert span is not None
    s.push(span, chunk([(0, "Okay", 0)], 960), 0)  # 40 ms: far below the prebuffer
    s.feed(" then", 0)  # balance's second step wants 3 words: the voice has nothing to do
    assert s.pull(0) == []  # the span is still in flight: hold back
    s.span_done(span, 0)
    assert s.pull(0)  # idle voice, schedule waiting for text: play what there is
