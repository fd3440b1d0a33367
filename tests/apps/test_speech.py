"""The speech parts with the real models: Silero VAD + liveloop.asr Whisper in a session graph's
listening nodes, and liveloop.tts Piper behind `TtsSpeaker`."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from liveloop.apps.listen import VAD_FRAME, Transcription, VadFramer
from liveloop.apps.speech import AsrConfig, SpeechUnavailable, recognizer_factory, speaker_factory, vad_factory
from liveloop.apps.turns import Finalize, SpeechStarted, TurnTaker, Utterance
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

    async def audio(self, samples: np.ndarray, rate_hz: int) -> None:
        self.items.append((samples, rate_hz))

    async def mark(self, payload: dict[str, Any]) -> None:
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


async def test_a_warmed_speaker_replays_the_command_replies_opening_words(speaker_maker):
    from liveloop.agent.responder import ResponderConfig
    from liveloop.apps.speech import canned_replies

    texts = canned_replies(ResponderConfig())
    assert any(t.startswith("I heard:") for t in texts) and any(t.startswith("Hello!") for t in texts)
    speaker = speaker_factory(warm=texts)()
    cache = speaker.synth
    assert cache.name == "piper+cache" and len(cache) >= 8  # one opening span per reply (several are shared)
    hits = cache.hits
    sink = Sink()
    await speaker.speak(["I ", "heard: ", "something ", "new."], sink)
    assert cache.hits == hits + 1  # "I heard:" came from the cache, "something new." from the voice
    marks = [i["text"].strip() for i in sink.items if isinstance(i, dict)]
    assert marks == ["I", "heard:", "something", "new."]


def test_vad_turns_and_recognizer_find_the_turn_and_its_words(prompt_wav):
    """The listening path without the graph: Silero frames → the turn-taker → Whisper, end placed on the waveform."""
    try:
        make_vad, make_rec = vad_factory(), recognizer_factory()
    except SpeechUnavailable as exc:
        pytest.skip(str(exc))
    path, speech_end_s = prompt_wav
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    vad, turns, framer = make_vad(), TurnTaker(), VadFramer()
    asr = Transcription(make_rec())
    outs: list[Any] = []
    for i in range(0, len(x), 320):
        for frame, start_ns in framer.feed(x[i : i + 320], i * 1_000_000_000 // 16_000):
            assert len(frame) == VAD_FRAME
            for out in turns.feed(frame, start_ns, vad(frame)):
                outs.append(out)
                if isinstance(out, Finalize):
                    _, text = asr.finalize()
                    outs += turns.hypothesis(out.utt, text)
                elif hasattr(out, "samples"):
                    asr.keep(out.samples, out.end_ns)
                    if asr.due:
                        asr.step()
                elif type(out).__name__ == "Begin":
                    asr.begin()
    kinds = [type(o) for o in outs]
    assert SpeechStarted in kinds and Utterance in kinds
    assert kinds.index(SpeechStarted) < kinds.index(Utterance)
    utt = next(o for o in outs if isinstance(o, Utterance))
    assert abs(utt.end_ns / 1e9 - speech_end_s) < 0.15  # stamped at the end of speech, not at the endpoint
    heard = set(utt.text.lower().replace("?", "").replace(".", "").replace(",", "").split())
    assert heard & set(PROMPT.lower().split()), utt.text


def test_recognizer_commit_rule_is_a_config_choice():
    try:
        make = recognizer_factory(AsrConfig(commit="eot"))
    except SpeechUnavailable as exc:
        pytest.skip(str(exc))
    rule = make().policy.config
    assert rule.commit_on_eot and rule.n_recheck == 0
    with pytest.raises(ValueError, match="commit rule 'later'"):
        recognizer_factory(AsrConfig(commit="later"))
