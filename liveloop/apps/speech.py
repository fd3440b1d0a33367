"""The speech models behind a session graph, loaded once per process and shared by every session.

    vad_factory()          → per session: Silero VAD (liveloop.asr.vad.SileroVad), a 512-sample frame → p(speech)
    recognizer_factory()   → per session: liveloop.asr's StreamingRecognizer (causal streaming Whisper)
    speaker_factory()      → per session: `TtsSpeaker`, liveloop.tts's SpeechStream + Piper

`TtsSpeaker.speak(tokens, sink)` streams a reply: 48 kHz int16 frames and word
marks go to the sink as soon as they are playable; awaiting the sink is the
back-pressure. `interrupt()` stops it at once (barge-in, a cancelled
speculative reply). `SpeechUnavailable` says why a part cannot run;
`liveloop.apps.stack.load_stack` turns it into a note and runs without it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.apps.reply import Speaker, SpeechSink
from liveloop.graph.clock import Clock, MonotonicClock


class SpeechUnavailable(RuntimeError):
    """A speech package (or its model) is not installed or has no streaming API yet."""


@dataclass(frozen=True, slots=True)
class AsrConfig:
    model: str = "tiny.en"
    chunk_ms: int = 300
    adapter: str = "auto"  # liveloop.asr's bundled causal adapter when it is there ('none': the base model)
    word_timestamps: bool = False  # the agent does not use word times; skipping them saves the alignment pass
    torch_threads: int = 1  # one: on a shared CPU, more intra-op threads spin and slow every other part
    # when a word is final (liveloop.asr.commit.CommitConfig.from_spec): "2" keeps the last 2 tokens tentative
    # (CarelessWhisper's rule), "eot" commits at end-of-text (word latency p50 114 vs 562 ms; WER 15.1 vs 9.4 % on
    # the dev set), "eot+p50k1" holds a word under 50 % one chunk more (147 ms, 11.3 %)
    commit: str = "2"

    def __post_init__(self) -> None:
        if self.chunk_ms <= 0 or self.chunk_ms % 20:
            raise ValueError(f"chunk_ms must be a positive multiple of 20, got {self.chunk_ms}")
        if self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")


def agent_stream_config() -> Any:
    """liveloop.tts's stream tuned for a voice agent's first audio (its defaults are tuned for no gaps).

    BOOST's steps with a first span of at most 3 words (no slack past it; BOOST's own 1:10 takes
    a whole sentence of up to 12 words when one ends within reach, and Piper's front end costs
    ≈ 25 ms + 1.4 ms per phoneme id: "Going left, once a robot is attached." ≈ 100 ms of CPU
    before its first sample, "Going left," ≈ 60 ms), cut at the clause it ends; and the
    first chunk is played as soon as it is ready (`start_at_first_chunk`). The stall rule alone
    held it back whenever the measured stall (front end + first window, an EMA) exceeded the
    chunk's 80 ms — on a loaded machine, most turns — until the second window was decoded:
    +100–300 ms of first audio. The voice's doubling windows keep the second chunk ahead.
    """
    from liveloop.tts.schedule import Schedule, SchedulerConfig
    from liveloop.tts.stream import StreamConfig

    return StreamConfig(
        scheduler=SchedulerConfig(steps=((1, 3), *Schedule.BOOST.steps[1:]), slack_words=0, tokens_are_words=True),
        min_prebuffer_ms=0.0,
        stall_safety=1.0,
        prior_stall_ms=60.0,
        start_at_first_chunk=True,
    )


@dataclass(frozen=True, slots=True)
class TtsConfig:
    """How the voice streams: `stream` is a liveloop.tts.stream.StreamConfig (None: `agent_stream_config()`).

    `first_chunk_frames`: the voice's first decoder window (11.6 ms frames). Eight (93 ms of audio)
    cost half of liveloop.tts's sixteen on this CPU (65–130 vs 150–200 ms on a loaded machine),
    which is most of what the voice adds to voice-to-voice; on a quiet machine the next window is
    still ready before the first has played.
    """

    intra_op_threads: int = 1
    first_chunk_frames: int = 8
    stream: Any = field(default=None)
    cache_spans: int = 64  # replay spans of ≤ 6 words said before (liveloop.tts.cache); 0: synthesize every time

    def __post_init__(self) -> None:
        if self.first_chunk_frames < 1:
            raise ValueError(f"first_chunk_frames must be >= 1, got {self.first_chunk_frames}")
        if self.cache_spans < 0:
            raise ValueError(f"cache_spans must be >= 0, got {self.cache_spans}")


_LOCK = threading.Lock()


def vad_factory() -> Callable[[], Callable[[np.ndarray], float]]:
    try:
        from liveloop.asr.vad import SileroVad
    except ImportError as exc:
        raise SpeechUnavailable(f"liveloop.asr has no VAD ({exc})") from exc
    try:
        SileroVad()  # load the model now, not in the first session
    except RuntimeError as exc:
        raise SpeechUnavailable(str(exc)) from exc
    return SileroVad


def recognizer_factory(config: AsrConfig | None = None) -> Callable[[], Any]:
    config = config or AsrConfig()
    try:
        import torch

        from liveloop.asr.commit import CommitConfig
        from liveloop.asr.lora import load_adapter_for
        from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer
        from liveloop.asr.weights import load_whisper
    except ImportError as exc:
        raise SpeechUnavailable(f"liveloop.asr has no streaming recognizer yet ({exc})") from exc
    commit = CommitConfig.from_spec(config.commit)  # a bad rule fails before the model loads
    torch.set_num_threads(config.torch_threads)
    with _LOCK:
        model = load_adapter_for(load_whisper(config.model, progress=False), config.adapter)
    stream = StreamConfig(chunk_ms=config.chunk_ms, word_timestamps=config.word_timestamps, commit=commit)
    StreamingRecognizer(model, stream)  # fail now, not in the first session
    return lambda: StreamingRecognizer(model, stream)


class TtsSpeaker:
    """Streams a reply through liveloop.tts; `interrupt()` stops it at once."""

    def __init__(self, synth: Any, *, stream_config: Any = None, clock: Clock | None = None) -> None:
        self.synth = synth
        self.stream_config = stream_config
        self.clock = clock or MonotonicClock()
        self._stream: Any = None

    def interrupt(self) -> None:
        if self._stream is not None:
            self._stream.interrupt(self.clock.now_ns())

    async def speak(self, tokens: Sequence[str] | AsyncIterator[str], sink: SpeechSink) -> None:
        from liveloop.tts.audio import TextMark
        from liveloop.tts.driver import run_voice
        from liveloop.tts.stream import SpeechStream

        clock = self.clock
        stream = SpeechStream(self.synth.sample_rate, self.stream_config)
        self._stream = stream
        wake = asyncio.Event()
        produced = asyncio.Event()
        generation = stream.generation

        async def on_audio() -> None:
            produced.set()

        async def each() -> AsyncIterator[str]:
            if isinstance(tokens, AsyncIterator):
                async for tok in tokens:
                    yield tok
            else:
                for tok in tokens:
                    yield tok

        async def feeder() -> None:
            async for tok in each():
                while not stream.wants_text:
                    await clock.sleep(0.02)
                if stream.generation != generation:
                    return
                stream.feed(tok, clock.now_ns())
                wake.set()
            stream.finish(clock.now_ns())
            wake.set()

        try:
            async with asyncio.TaskGroup() as tg:
                feeding = tg.create_task(feeder(), name="tts.feeder")
                voice = tg.create_task(
                    run_voice(stream, self.synth, wake, clock, on_audio, stop_when_drained=True), name="tts.voice"
                )
                while True:
                    if stream.generation != generation:  # interrupted
                        voice.cancel()
                        feeding.cancel()
                        break
                    for item in stream.release(clock.now_ns()):
                        if stream.generation != generation:
                            break
                        if isinstance(item, TextMark):
                            await sink.mark({"text": item.text + " "})
                        else:
                            await sink.audio(item.samples, item.sample_rate)
                        wake.set()
                    if voice.done() and stream.idle:
                        break
                    produced.clear()
                    try:
                        async with asyncio.timeout(0.02):
                            await produced.wait()
                    except TimeoutError:
                        pass
        finally:
            self._stream = None


def speaker_factory(config: TtsConfig | None = None, *, warm: Sequence[str] = ()) -> Callable[[], Speaker]:
    """Per-session speakers on one shared voice; with a span cache, the first spans of `warm` are made now."""
    config = config or TtsConfig()
    try:
        from liveloop.tts.cache import CachedSynthesizer
        from liveloop.tts.driver import run_voice  # noqa: F401
        from liveloop.tts.stream import SpeechStream  # noqa: F401
        from liveloop.tts.voice import PiperSynthesizer, VoiceConfig
    except ImportError as exc:
        raise SpeechUnavailable(f"liveloop.tts has no streaming speaker yet ({exc})") from exc
    stream = config.stream if config.stream is not None else agent_stream_config()
    with _LOCK:
        synth: Any = PiperSynthesizer(
            VoiceConfig(intra_op_threads=config.intra_op_threads, first_chunk_frames=config.first_chunk_frames)
        )
        if config.cache_spans:
            synth = CachedSynthesizer(synth, max_spans=config.cache_spans)
            synth.warm(warm, stream)
    return lambda: TtsSpeaker(synth, stream_config=stream)


def canned_replies(responder: Any) -> list[str]:
    """What the command responder (`responder`: its ResponderConfig) says, whatever it heard, for `warm`."""
    from liveloop.agent.responder import ResponderCore

    heard = ["hello", "stop", "go left", "go right", "go forward", "go back", "follow me", "what do you see", "hm"]
    return [ResponderCore(responder).feed(u, 0).text for u in heard]
