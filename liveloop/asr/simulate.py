"""Run a recognizer over a file as if it were live, and measure when each word came out.

    audio ──frames of frame_ms, arriving at their capture time──► StreamingRecognizer ──► TimedWord(emit_s)

Two clocks:

* real time (`realtime=True`): frames are handed over at the audio's pace on the
  monotonic clock; a word's emit time is when it came out.
* virtual (`realtime=False`, the `--fast` mode): no sleeping. Frame i arrives at
  its capture time; the recognizer starts on it when both the frame has arrived
  and the previous work is done, and finishes after the compute time it really
  took: the CPU time of this thread (torch runs single-threaded here), so a
  shared, loaded machine does not inflate it with time spent waiting for a
  core. Emit times are what a real-time run would see on an unloaded core.

Latency of a word = emit time − the word's end time in the audio.
Also here: `transcribe_offline` (whisper's greedy transcription with word
timestamps, the reference) and `LocalAgreement` (whisper_streaming's baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from liveloop.asr.features import SAMPLE_RATE
from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer, Update


@dataclass(frozen=True, slots=True)
class TimedWord:
    word: str
    start_s: float
    end_s: float
    emit_s: float  # stream time at which the word was committed

    @property
    def latency_s(self) -> float:
        return self.emit_s - self.end_s


@dataclass(slots=True)
class StreamResult:
    words: list[TimedWord] = field(default_factory=list)
    duration_s: float = 0.0  # audio length
    compute_s: float = 0.0  # time spent inside the recognizer (wall in real time, CPU on the virtual clock)
    encoder_s: float = 0.0
    tokens_revised: int = 0

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()

    @property
    def rtf(self) -> float:
        return self.compute_s / self.duration_s if self.duration_s else 0.0

    def latency_ms(self, q: float, ends: list[float] | None = None) -> float:
        """Percentile q of emit − end (own word ends, or `ends` from a reference)."""
        ends = ends if ends is not None else [w.end_s for w in self.words]
        lat = [1000 * (w.emit_s - e) for w, e in zip(self.words, ends, strict=False)]
        return float(np.percentile(lat, q)) if lat else float("nan")


def stream_file(
    model: nn.Module,
    audio: np.ndarray,
    config: StreamConfig | None = None,
    frame_ms: int = 20,
    realtime: bool = False,
    on_word=None,
) -> StreamResult:
    """Feed `audio` frame by frame to a fresh StreamingRecognizer; see the module docstring for the clocks."""
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be > 0, got {frame_ms}")
    rec = StreamingRecognizer(model, config)
    frame = frame_ms * SAMPLE_RATE // 1000
    res = StreamResult(duration_s=audio.size / SAMPLE_RATE)
    t0 = time.perf_counter()
    busy_until = 0.0  # virtual clock: when the recognizer is free again
    clock = time.perf_counter if realtime else time.thread_time

    def emit(updates: list[Update], at_s: float) -> None:
        for u in updates:
            for w in u.words:
                tw = TimedWord(w.word, w.start_s, w.end_s, at_s)
                res.words.append(tw)
                if on_word is not None:
                    on_word(tw)

    for i in range(0, audio.size, frame):
        chunk = audio[i : i + frame]
        arrival_s = (i + chunk.size) / SAMPLE_RATE
        if realtime:
            delay = arrival_s - (time.perf_counter() - t0)
            if delay > 0:
                time.sleep(delay)
        c0 = clock()
        updates = rec.feed(chunk)
        cost = clock() - c0
        res.compute_s += cost
        if realtime:
            emit(updates, time.perf_counter() - t0)
        else:
            busy_until = max(busy_until, arrival_s) + cost
            emit(updates, busy_until)
    c0 = clock()
    updates = rec.end_segment()
    cost = clock() - c0
    res.compute_s += cost
    end_s = (time.perf_counter() - t0) if realtime else max(busy_until, res.duration_s) + cost
    emit(updates, end_s)
    res.encoder_s = rec.encoder_s
    res.tokens_revised = rec.tokens_revised
    return res


def transcribe_offline(
    model: nn.Module, audio: np.ndarray, word_timestamps: bool = True, **options: object
) -> tuple[str, list[tuple[str, float, float]]]:
    """whisper.transcribe, greedy (temperature 0, no fallback), English, word timestamps: (text, words).
    `options` go to whisper.transcribe (e.g. initial_prompt)."""
    import torch
    import whisper

    threads = torch.get_num_threads()
    out = whisper.transcribe(
        model,
        audio,
        language="en",
        temperature=0.0,
        fp16=False,
        word_timestamps=word_timestamps,
        verbose=None,
        **options,  # type: ignore[arg-type]
    )
    torch.set_num_threads(threads)  # whisper's word timing (numba) can leave torch on more threads
    words = [(w["word"], float(w["start"]), float(w["end"])) for seg in out["segments"] for w in seg.get("words", [])]
    return out["text"].strip(), words


class LocalAgreement:
    """whisper_streaming's LocalAgreement-2 policy (the baseline), without a clock.

    Each `step` re-transcribes the buffer since the last trim (whisper pads it to a 30 s window) with the
    committed text as prompt, and commits the prefix that this hypothesis and the previous one agree on (the
    whole hypothesis when `final`). Once the buffer is longer than `trim_s`, it is trimmed at the last
    committed word. The caller decides when to step: every 1 s of audio on a virtual clock, or as audio
    arrives in real time."""

    def __init__(self, model: nn.Module, trim_s: float = 10.0) -> None:
        from whisper.normalizers import EnglishTextNormalizer

        self.model = model
        self.trim_s = trim_s
        self.norm = EnglishTextNormalizer()
        self.buf_start = 0.0
        self.committed: list[tuple[str, float, float]] = []
        self.prev: list[tuple[str, float, float]] = []

    def step(self, audio: np.ndarray, t: float, final: bool) -> list[tuple[str, float, float]]:
        """`audio`: the whole stream so far (16 kHz); `t`: its length in seconds. Returns the newly committed
        (word, start_s, end_s)."""
        chunk = audio[int(self.buf_start * SAMPLE_RATE) : int(t * SAMPLE_RATE)]
        prompt = "".join(w for w, _, _ in self.committed[-20:]).strip() or None
        _, words = transcribe_offline(self.model, chunk, initial_prompt=prompt, condition_on_previous_text=False)
        hyp = [(w, self.buf_start + start, self.buf_start + end) for w, start, end in words]
        last_end = self.committed[-1][2] if self.committed else 0.0
        hyp = [w for w in hyp if w[2] > last_end - 0.05]
        agree = []
        for a, b in zip(self.prev, hyp, strict=False):
            if self.norm(a[0]) != self.norm(b[0]):
                break
            agree.append(b)
        new = hyp if final else agree
        self.committed += new
        self.prev = hyp[len(new) :] if not final else []
        if self.committed and t - self.buf_start > self.trim_s:  # trim the buffer at the last committed word
            self.buf_start = self.committed[-1][2]
            self.prev = [w for w in self.prev if w[1] >= self.buf_start]
        return new
