"""`say` with the real voice: streamed tokens, marks, barge-in, bad input, intelligibility (Whisper)."""

from __future__ import annotations

import asyncio

import pytest

from liveloop.tts.driver import say
from liveloop.tts.schedule import Schedule, SchedulerConfig
from liveloop.tts.stream import StreamConfig
from liveloop.tts.voice import PiperSynthesizer, VoiceConfig

TEXT = "Sure, I can see the red cup on the table. Shall I bring it to you?"


@pytest.fixture(scope="module")
def synth() -> PiperSynthesizer:
    return PiperSynthesizer(VoiceConfig())


def tokens(text: str) -> list[str]:
    return [w if i == 0 else " " + w for i, w in enumerate(text.split())]


def cfg(schedule: Schedule = Schedule.BALANCE, rate: int = 16_000) -> StreamConfig:
    return StreamConfig(scheduler=SchedulerConfig(schedule=schedule, tokens_are_words=True), output_rate_hz=rate)


def test_streamed_tokens_give_interleaved_marks_and_intelligible_audio(synth: PiperSynthesizer) -> None:
    res = asyncio.run(say(tokens(TEXT), synth, cfg(), tokens_per_s=40.0, paced=False))
    assert res.spans[0] == "Sure,"  # the first word is spoken on its own: first audio from the first token
    assert " ".join(res.spans) == TEXT
    assert res.first_audio_ms is not None and res.first_audio_ms < res.total_ms  # type: ignore[operator]
    assert [m.text for m, _ in res.marks] == TEXT.split()
    positions = [m.position for m, _ in res.marks]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    pcm = res.pcm()
    assert len(pcm) == len(res.frames) * 320 and positions[-1] < len(pcm)  # 20 ms at 16 kHz
    assert 2.0 < len(pcm) / 16_000 < 7.0
    assert res.reports and res.reports[-1].complete and res.reports[-1].spoken_text == TEXT
    from liveloop.tts.evaluate import transcribe, wer

    assert wer(TEXT, transcribe(pcm, 16_000)) <= 0.15


def test_barge_in_stops_output_and_reports_what_was_heard(synth: PiperSynthesizer) -> None:
    res = asyncio.run(say(tokens(TEXT), synth, cfg(), tokens_per_s=40.0, paced=True, interrupt_after_ms=400))
    assert res.interrupt_ns is not None
    assert res.frames_after_interrupt == 0  # nothing leaves after the interrupt
    (report,) = [r for r in res.reports if r.interrupted]
    assert 380.0 <= report.played_ms <= 1000.0  # 400 ms after the first frame (later if the loop was late)
    heard = report.spoken_text.split()
    assert heard and TEXT.split()[: len(heard)] == heard and len(heard) < len(TEXT.split())
    assert report.dropped_words > 0
    # every mark handed out before the interrupt points inside the audio that went out
    assert all(m.position < len(res.pcm()) for m, _ in res.marks)


@pytest.mark.parametrize(
    ("token_list", "warn"),
    [
        (["<speak>Hello", " <break/>there</speak> 😀"], "markup"),
        (["\x00\x07"], "control"),
    ],
)
def test_bad_input_is_spoken_around_with_warnings(synth: PiperSynthesizer, token_list: list[str], warn: str) -> None:
    res = asyncio.run(say(token_list, synth, cfg(), tokens_per_s=None, paced=False))
    assert any(warn in w for w in res.warnings)
    assert not any("<" in m.text for m, _ in res.marks)


def test_empty_text_says_nothing(synth: PiperSynthesizer) -> None:
    res = asyncio.run(say([], synth, cfg(), paced=False))
    assert res.frames == [] and res.first_audio_ms is None and res.reports == []


def test_long_text_streams_with_a_bounded_queue(synth: PiperSynthesizer) -> None:
    text = " ".join(["This is a long text that keeps going."] * 40)  # 320 words
    config = StreamConfig(scheduler=SchedulerConfig(tokens_are_words=True), output_rate_hz=16_000, max_queued_ms=600)
    res = asyncio.run(say([text], synth, config, tokens_per_s=None, paced=True, interrupt_after_ms=300))
    (report,) = [r for r in res.reports if r.interrupted]
    assert report.dropped_frames * 20 <= 600 + 2_000  # at most the queue bound plus one span's chunks
    assert report.dropped_words > 250  # most of the text was never synthesized


def test_schedules_differ_in_how_spans_grow(synth: PiperSynthesizer) -> None:
    text = "one two three four five six seven eight nine ten"  # all there at once: no waiting on text
    spans = {
        s: asyncio.run(say(tokens(text), synth, cfg(s), tokens_per_s=None, paced=False)).spans
        for s in (Schedule.BALANCE, Schedule.TURBO)
    }
    assert spans[Schedule.BALANCE] == ["one two three four", "five six seven eight nine ten"]  # 1:4, then 3:8
    assert spans[Schedule.TURBO] == [text]  # 1:10
