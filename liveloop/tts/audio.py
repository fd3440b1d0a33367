"""Audio out: resample the voice to what the consumer needs and cut 20 ms frames.

The voice speaks at its own rate (Piper: 22 050 Hz). WebRTC wants 48 kHz, a
WebSocket client 16 or 24 kHz. `Framer` is sans-I/O: float32 chunks at the
voice's rate in (``feed``), `AudioFrame`s of exactly 20 ms of int16 mono out,
each numbered by the stream position of its first sample. PyAV's resampler
(libswresample) keeps its filter state across chunks, so chunk joins are
seamless; `flush` drains it and pads the last frame with silence.

Positions convert between rates with `Framer.to_out_samples`, so a text mark
placed at a voice-rate sample lands on the right output sample (within the
resampler's few-sample delay, well under a millisecond).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

FRAME_MS = 20
OUTPUT_RATES_HZ = (8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """20 ms of mono int16 speech."""

    samples: np.ndarray  # (rate * 20 ms,) int16
    sample_rate: int
    start: int  # stream position of samples[0] (output rate, counted from the utterance start)
    utterance: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate

    def to_bytes(self) -> bytes:
        return self.samples.astype("<i2", copy=False).tobytes()


@dataclass(frozen=True, slots=True)
class TextMark:
    """A word of the spoken text, due when output sample `position` is played."""

    text: str
    position: int  # output-rate sample in the utterance's stream
    utterance: int
    span: int  # span index within the utterance
    word: int  # word index within the span

    def time_ms(self, sample_rate: int) -> float:
        return 1000.0 * self.position / sample_rate


class Resampler:
    """Mono float32 at `in_rate_hz` → mono int16 at `out_rate_hz`, stateful across calls (PyAV)."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        for name, r in (("in_rate_hz", in_rate_hz), ("out_rate_hz", out_rate_hz)):
            if not (isinstance(r, int) and 4_000 <= r <= 192_000):
                raise ValueError(f"{name} must be an int in [4000, 192000], got {r!r}")
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self._res: av.AudioResampler | None = None
        self._pts = 0

    def _resampler(self) -> av.AudioResampler:
        if self._res is None:
            self._res = av.AudioResampler(format="s16", layout="mono", rate=self.out_rate_hz)
        return self._res

    def feed(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return np.zeros(0, np.int16)
        if not np.all(np.isfinite(x)):
            raise ValueError("audio samples must be finite (got NaN or inf)")
        if self.in_rate_hz == self.out_rate_hz:
            return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")  # (channels, N)
        frame.sample_rate = self.in_rate_hz
        frame.pts = self._pts
        self._pts += x.size
        return self._collect(self._resampler().resample(frame))

    def flush(self) -> np.ndarray:
        if self._res is None or self.in_rate_hz == self.out_rate_hz:
            return np.zeros(0, np.int16)
        out = self._collect(self._res.resample(None))
        self._res = None
        self._pts = 0
        return out

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> np.ndarray:
        parts = [f.to_ndarray().reshape(-1) for f in frames]
        return np.concatenate(parts).astype(np.int16, copy=False) if parts else np.zeros(0, np.int16)


class Framer:
    """Voice-rate float chunks → 20 ms int16 `AudioFrame`s at the output rate."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int = 48_000) -> None:
        if out_rate_hz not in OUTPUT_RATES_HZ:
            raise ValueError(f"output rate must be one of {OUTPUT_RATES_HZ}, got {out_rate_hz}")
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self.frame_samples = out_rate_hz * FRAME_MS // 1000
        self._resampler = Resampler(in_rate_hz, out_rate_hz)
        self._pending = np.zeros(0, np.int16)
        self._next_start = 0
        self.utterance = 0

    def to_out_samples(self, in_samples: int) -> int:
        return round(in_samples * self.out_rate_hz / self.in_rate_hz)

    @property
    def position(self) -> int:
        """Output samples framed so far in this utterance (the next frame's start)."""
        return self._next_start

    def feed(self, samples: np.ndarray) -> list[AudioFrame]:
        out = self._resampler.feed(samples)
        return self._cut(out)

    def flush(self) -> list[AudioFrame]:
        """End of the audio for now: drain the resampler and pad the last frame with silence."""
        frames = self._cut(self._resampler.flush())
        if self._pending.size:
            pad = np.zeros(self.frame_samples, np.int16)
            pad[: self._pending.size] = self._pending
            frames.append(AudioFrame(pad, self.out_rate_hz, self._next_start, self.utterance))
            self._next_start += self.frame_samples
            self._pending = np.zeros(0, np.int16)
        return frames

    def reset(self) -> None:
        """Forget everything and start the next utterance at position 0 (barge-in, or the end of one)."""
        self._resampler = Resampler(self.in_rate_hz, self.out_rate_hz)
        self._pending = np.zeros(0, np.int16)
        self._next_start = 0
        self.utterance += 1

    def _cut(self, new: np.ndarray) -> list[AudioFrame]:
        buf = np.concatenate([self._pending, new]) if self._pending.size else new
        n = self.frame_samples
        k = buf.size // n
        frames = []
        for i in range(k):
            frames.append(
                AudioFrame(buf[i * n : (i + 1) * n].copy(), self.out_rate_hz, self._next_start, self.utterance)
            )
            self._next_start += n
        self._pending = buf[k * n :].copy()
        return frames
