"""Adapters from the speech packages (liveloop.asr, liveloop.tts) to the session's protocols.

    AsrRecognizer   16 kHz frames → Silero VAD (32 ms frames) → `Endpointer` (turns)
                    → liveloop.asr's StreamingRecognizer while the user speaks (with pre-roll)
                    → partial / committed transcript, speech start (barge-in), end of utterance
    TtsSpeaker      reply tokens → liveloop.tts's SpeechStream + run_voice (Piper)
                    → 48 kHz int16 frames and word marks, handed to the transport as they are playable

Models are loaded once per process (`recognizer_factory()` / `speaker_factory()`)
and shared by every session; each session gets its own streaming state.
`SpeechUnavailable` says why a part cannot run; `load_stack` turns it into a note.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.apps.turns import EndpointConfig, Endpointer, TurnKind
from liveloop.apps.voice import Recognizer, Speaker, SpeechSink, TranscriptEvent, TranscriptKind
from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.rtc.audio import PcmFrame

VAD_FRAME = 512  # Silero's frame at 16 kHz (32 ms); 480 is rejected
RECENT_FRAMES = 16  # ≈ 0.5 s of audio kept to place the end of speech on the waveform
END_LEVEL = 0.01  # -40 dBFS: a sample above it is still voice
RATE = 16_000


class SpeechUnavailable(RuntimeError):
    """A speech package (or its model) is not installed or has no streaming API yet."""


@dataclass(frozen=True, slots=True)
class AsrConfig:
    model: str = "tiny.en"
    chunk_ms: int = 300
    preroll_ms: int = 256  # audio before the detected start of speech that ASR also gets
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)

    def __post_init__(self) -> None:
        if self.preroll_ms < 0:
            raise ValueError(f"preroll_ms must be >= 0, got {self.preroll_ms}")


class AsrRecognizer:
    """One session's VAD + streaming Whisper (blocking calls: the session runs `feed` in a thread)."""

    def __init__(self, model: Any, config: AsrConfig) -> None:
        from silero_vad import load_silero_vad

        from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer

        self.config = config
        self.vad = load_silero_vad(onnx=True)
        self.asr = StreamingRecognizer(model, StreamConfig(chunk_ms=config.chunk_ms))
        self.endpointer = Endpointer(config.endpoint)
        self._pending = np.zeros(0, np.float32)
        self._pending_start_ns = 0
        self._preroll: deque[np.ndarray] = deque(maxlen=max(1, config.preroll_ms * RATE // 1000 // VAD_FRAME))
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=RECENT_FRAMES)  # (end_ns, 512 samples)
        self._text: list[str] = []
        self._last_sample_ns = 0

    def feed(self, frame: PcmFrame) -> list[TranscriptEvent]:
        import torch

        if frame.sample_rate != RATE:
            raise ValueError(f"recognizer needs {RATE} Hz audio, got {frame.sample_rate}")
        if not len(self._pending):
            self._pending_start_ns = frame.capture_ns
        self._pending = np.concatenate([self._pending, frame.samples])
        out: list[TranscriptEvent] = []
        while len(self._pending) >= VAD_FRAME:
            chunk, self._pending = self._pending[:VAD_FRAME], self._pending[VAD_FRAME:]
            end_ns = self._pending_start_ns + VAD_FRAME * 1_000_000_000 // RATE
            self._pending_start_ns = end_ns
            self._recent.append((end_ns, chunk))
            self._last_sample_ns = end_ns
            prob = float(self.vad(torch.from_numpy(chunk), RATE).item())
            turn = self.endpointer.feed(prob, end_ns)
            speaking = self.endpointer.state.value == "speech"
            if turn is not None and turn.kind is TurnKind.SPEECH_START:
                out.append(TranscriptEvent(TranscriptKind.SPEECH_START, at_ns=turn.at_ns))
                for pre in self._preroll:
                    out.extend(self._recognise(pre))
                self._preroll.clear()
            if speaking or (turn is not None and turn.kind is TurnKind.END_OF_SPEECH):
                out.extend(self._recognise(chunk))
            else:
                self._preroll.append(chunk)
            if turn is not None and turn.kind is TurnKind.END_OF_SPEECH:
                out.extend(self._finish(self.refine_end(turn.at_ns), end_ns))
        return out

    def _recognise(self, samples: np.ndarray) -> list[TranscriptEvent]:
        return self._events(self.asr.feed(samples))

    def _events(self, updates: Sequence[Any]) -> list[TranscriptEvent]:
        out = []
        for u in updates:
            if u.words:
                self._text.extend(w.word for w in u.words)
                out.append(TranscriptEvent(TranscriptKind.COMMITTED, "".join(self._text).strip(), self._last_sample_ns))
            if u.partial:
                out.append(
                    TranscriptEvent(
                        TranscriptKind.PARTIAL, ("".join(self._text) + u.partial).strip(), self._last_sample_ns
                    )
                )
        return out

    def refine_end(self, vad_end_ns: int) -> int:
        """The last sample louder than `END_LEVEL` at or before the VAD's end of speech.

        Silero's probability stays high for a while after the voice stops (its frames are
        32 ms and it smooths), so its end is late; the waveform says where the voice ended.
        """
        for frame_end_ns, chunk in reversed(self._recent):
            if frame_end_ns - len(chunk) * 1_000_000_000 // RATE >= vad_end_ns:
                continue
            loud = np.nonzero(np.abs(chunk) > END_LEVEL)[0]
            if loud.size:
                t = frame_end_ns - (len(chunk) - loud[-1] - 1) * 1_000_000_000 // RATE
                return min(t, vad_end_ns)
        return vad_end_ns

    def _finish(self, end_ns: int, endpoint_ns: int) -> list[TranscriptEvent]:
        out = self._events(self.asr.end_segment())
        text = "".join(self._text).strip()
        self._text = []
        out.append(TranscriptEvent(TranscriptKind.END_OF_UTTERANCE, text, end_ns, endpoint_ns))
        return out


_LOCK = threading.Lock()


def recognizer_factory(config: AsrConfig | None = None) -> Callable[[], Recognizer]:
    config = config or AsrConfig()
    try:
        from liveloop.asr.recognizer import StreamingRecognizer  # noqa: F401
        from liveloop.asr.weights import load_whisper
    except ImportError as exc:
        raise SpeechUnavailable(f"liveloop.asr has no streaming recognizer yet ({exc})") from exc
    try:
        import silero_vad  # noqa: F401
    except ImportError as exc:
        raise SpeechUnavailable("the silero-vad package is needed for turn-taking") from exc
    with _LOCK:
        model = load_whisper(config.model, progress=False)
    AsrRecognizer(model, config)  # fail now, not in the first session
    return lambda: AsrRecognizer(model, config)


class TtsSpeaker:
    """Streams a reply through liveloop.tts; `interrupt()` (barge-in) stops it at once."""

    def __init__(self, synth: Any, clock: Clock | None = None) -> None:
        self.synth = synth
        self.clock = clock or MonotonicClock()
        self._stream: Any = None
        self.first_audio_ms: float | None = None

    def interrupt(self) -> None:
        if self._stream is not None:
            self._stream.interrupt(self.clock.now_ns())

    async def speak(self, tokens: Sequence[str] | AsyncIterator[str], sink: SpeechSink) -> None:
        from liveloop.tts.audio import TextMark
        from liveloop.tts.driver import run_voice
        from liveloop.tts.stream import SpeechStream

        clock = self.clock
        stream = SpeechStream(self.synth.sample_rate)
        self._stream = stream
        wake = asyncio.Event()
        produced = asyncio.Event()
        t_first_token = clock.now_ns()
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
                tg.create_task(feeder(), name="tts.feeder")
                voice = tg.create_task(
                    run_voice(stream, self.synth, wake, clock, on_audio, stop_when_drained=True), name="tts.voice"
                )
                while True:
                    if stream.generation != generation:  # barge-in
                        voice.cancel()
                        break
                    for item in stream.release(clock.now_ns()):
                        if isinstance(item, TextMark):
                            sink.mark({"text": item.text + " "})
                        else:
                            if self.first_audio_ms is None:
                                self.first_audio_ms = (clock.now_ns() - t_first_token) / 1e6
                            sink.push_speech(item.samples, item.sample_rate)
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


def speaker_factory() -> Callable[[], Speaker]:
    try:
        from liveloop.tts.driver import run_voice  # noqa: F401
        from liveloop.tts.stream import SpeechStream  # noqa: F401
        from liveloop.tts.voice import PiperSynthesizer, VoiceConfig
    except ImportError as exc:
        raise SpeechUnavailable(f"liveloop.tts has no streaming speaker yet ({exc})") from exc
    with _LOCK:
        synth = PiperSynthesizer(VoiceConfig(intra_op_threads=1))
    return lambda: TtsSpeaker(synth)
