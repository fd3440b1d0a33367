"""The speech adapters with the real models: Silero VAD + liveloop.asr Whisper, liveloop.tts Piper."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from liveloop.apps.speech import SpeechUnavailable, recognizer_factory, speaker_factory
from liveloop.apps.voice import TranscriptKind
from liveloop.rtc.audio import PcmFrame
from tests.e2e.media import speech_wav

PROMPT = "What do you see"


@pytest.fixture(scope="module")
def speaker_maker():
    try:
        return speaker_factory()
    except SpeechUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def prompt_wav(tmp_path_factory, speaker_maker) -> tuple[Path, float]:
    return speech_wav(tmp_path_factory.mktemp("wav") / "prompt.wav", PROMPT, lead_s=0.8, tail_s=1.2)


class Sink:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None:
        self.items.append((samples, rate_hz))

    def mark(self, payload: dict[str, Any]) -> None:
        self.items.append(payload)


async def test_tts_speaker_streams_audio_with_word_marks(speaker_maker):
    speaker = speaker_maker()
    sink = Sink()
    await speaker.speak(["Hello! ", "I ", "am ", "liveloop."], sink)
    marks = [i["text"].strip() for i in sink.items if isinstance(i, dict)]
    audio = [i for i in sink.items if isinstance(i, tuple)]
    assert marks == ["Hello!", "I", "am", "liveloop."]
    assert all(a.dtype == np.int16 and r == 48_000 and len(a) == 960 for a, r in audio)
    seconds = len(audio) * 0.02
    assert 0.8 < seconds < 4.0
    mark_at = [i for i, item in enumerate(sink.items) if isinstance(item, dict)]
    assert mark_at[-1] < len(sink.items) - 5  # marks are interleaved with the audio, not sent at the end
    assert speaker.first_audio_ms is not None and speaker.first_audio_ms > 0


async def test_tts_speaker_stops_on_interrupt(speaker_maker):
    speaker = speaker_maker()
    sink = Sink()
    text = "This is a long answer that the user will interrupt before it is over."
    words = text.split(" ")

    async def barge_in() -> None:
        while not any(isinstance(i, tuple) for i in sink.items):
            await asyncio.sleep(0.005)
        speaker.interrupt()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(barge_in())
        await asyncio.wait_for(speaker.speak([w + " " for w in words], sink), 60)
    marks = [i for i in sink.items if isinstance(i, dict)]
    assert len(marks) < len(words)  # the rest was never said


def test_recognizer_finds_the_turn_and_its_words(prompt_wav):
    try:
        make = recognizer_factory()
    except SpeechUnavailable as exc:
        pytest.skip(str(exc))
    path, speech_end_s = prompt_wav
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    rec = make()
    events = []
    for i in range(0, len(x), 320):
        events += rec.feed(PcmFrame(x[i : i + 320], 16_000, i * 1_000_000_000 // 16_000))
    kinds = [e.kind for e in events]
    assert TranscriptKind.SPEECH_START in kinds and TranscriptKind.END_OF_UTTERANCE in kinds
    assert kinds.index(TranscriptKind.SPEECH_START) < kinds.index(TranscriptKind.END_OF_UTTERANCE)
    end = next(e for e in events if e.kind is TranscriptKind.END_OF_UTTERANCE)
    assert abs(end.at_ns / 1e9 - speech_end_s) < 0.15  # stamped at the end of speech, not at the endpoint
    heard = set(end.text.lower().replace("?", "").replace(".", "").split())
    assert heard & set(PROMPT.lower().split()), end.text
