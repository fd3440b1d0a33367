"""Audio in and out of a WebRTC session.

In: `MicIngress` turns the browser's decoded Opus frames (48 kHz, s16, stereo or
mono) into `PcmFrame`s of 16 kHz mono float32 with PyAV's resampler, each
stamped with the local monotonic time at which it was captured: the RTP
timestamp mapped through `OffsetEstimator`, less the frame's duration (a packet
leaves the sender only once its last sample is captured, so the smallest
arrival − RTP time seen is the transit plus one frame; without the correction
every capture time, and so the end of the user's speech, would be a frame late).

Out: `SpeechBuffer` (sans-I/O) holds the agent's speech as 48 kHz int16 with
caption marks at sample positions; `PacedAudioTrack` is an aiortc audio track
whose `recv()` hands out one 20 ms frame per 20 ms of the monotonic clock
(pull-based, like every aiortc track), silence when there is nothing to say.
A mark is reported when the sample it points at leaves the server, so captions
follow the audio the listener actually hears. `flush()` is barge-in.
"""

from __future__ import annotations

import fractions
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from liveloop.graph.clock import NS_PER_MS, Clock, MonotonicClock
from liveloop.rtc.clock_sync import OffsetConfig, OffsetEstimator

ASR_RATE_HZ = 16_000
RTC_RATE_HZ = 48_000
PTIME_MS = 20
RTC_FRAME_SAMPLES = RTC_RATE_HZ * PTIME_MS // 1000  # 960 samples = 20 ms at 48 kHz


@dataclass(frozen=True, slots=True)
class PcmFrame:
    """Mono float32 PCM in [-1, 1] with the monotonic time its first sample was captured."""

    samples: np.ndarray  # (N,) float32
    sample_rate: int
    capture_ns: int

    @property
    def duration_ns(self) -> int:
        return len(self.samples) * 1_000_000_000 // self.sample_rate


class MicIngress:
    """Decoded WebRTC audio frames → 16 kHz mono float32 `PcmFrame`s with capture times."""

    def __init__(self, rate_hz: int = ASR_RATE_HZ) -> None:
        self.rate_hz = rate_hz
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
        self._offset: OffsetEstimator | None = None
        self.frames_in = 0

    def feed(self, frame: av.AudioFrame, arrival_ns: int) -> list[PcmFrame]:
        if frame.pts is None or frame.sample_rate <= 0:
            raise ValueError(f"audio frame needs a pts and a sample rate, got pts={frame.pts} rate={frame.sample_rate}")
        if self._offset is None:
            self._offset = OffsetEstimator(OffsetConfig(clock_rate_hz=frame.sample_rate))
        frame_ns = frame.samples * 1_000_000_000 // frame.sample_rate
        capture_ns = self._offset.feed(frame.pts % (1 << 32), arrival_ns) - frame_ns
        self.frames_in += 1
        out: list[PcmFrame] = []
        for res in self._resampler.resample(frame):
            samples = res.to_ndarray().reshape(-1).astype(np.float32, copy=False)  # (1, N) -> (N,)
            out.append(PcmFrame(samples, self.rate_hz, capture_ns))
        return out

    @property
    def offset_ns(self) -> int | None:
        return None if self._offset is None else self._offset.offset_ns


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Little-endian int16 PCM bytes → float32 in [-1, 1)."""
    if len(data) % 2:
        raise ValueError(f"int16 PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Resampler:
    """Mono float32 at any rate → mono int16 at `rate_hz` (PyAV), keeping state across calls."""

    def __init__(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self._resampler: av.AudioResampler | None = None
        self._in_rate: int | None = None

    def feed(self, samples: np.ndarray, rate_hz: int) -> np.ndarray:
        """Float32 in [-1, 1] or int16 samples → int16 at `rate_hz`."""
        if samples.dtype == np.int16:
            if rate_hz == self.rate_hz:
                return samples
            samples = samples.astype(np.float32) / 32768.0
        if rate_hz == self.rate_hz:
            return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
        if self._in_rate != rate_hz:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate_hz)
            self._in_rate = rate_hz
        frame = av.AudioFrame.from_ndarray(np.asarray(samples, np.float32).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate_hz
        assert self._resampler is not None
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


@dataclass(frozen=True, slots=True)
class Mark:
    """A caption mark: `payload` becomes due when sample `position` (absolute, 48 kHz) is sent."""

    position: int
    payload: Any


@dataclass(slots=True)
class Chunk:
    """What one 20 ms pull returns."""

    samples: np.ndarray  # (960,) int16
    marks: list[Any] = field(default_factory=list)  # payloads whose sample went out in this chunk
    speech_samples: int = 0  # how many of the 960 samples are speech (the rest is silence)
    utterance_started: bool = False  # the first speech sample after silence is in this chunk


class SpeechBuffer:
    """Agent speech waiting to go out: 48 kHz int16, bounded, with caption marks (sans-I/O).

    ``push(samples)`` appends; ``mark(payload)`` pins a payload to the next sample pushed;
    ``pull() -> Chunk`` takes 20 ms (padded with silence); ``flush() -> dropped samples``.
    Overflow policy: reject — a push beyond ``max_samples`` raises `OverflowError`, because
    silently cutting speech would be worse than telling the producer it ran ahead.
    """

    def __init__(self, max_seconds: float = 30.0) -> None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        self.max_samples = round(max_seconds * RTC_RATE_HZ)
        self._parts: deque[np.ndarray] = deque()
        self._queued = 0
        self._head = 0  # absolute sample index of the next sample to go out
        self._tail = 0  # absolute index after the last pushed sample
        self._marks: deque[Mark] = deque()
        self._speaking = False
        self.flushed_samples = 0
        self.peak_samples = 0

    def __len__(self) -> int:
        return self._queued

    @property
    def speaking(self) -> bool:
        return self._queued > 0

    def push(self, samples: np.ndarray) -> None:
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"speech must be 1-D int16 at 48 kHz, got {samples.dtype} {samples.shape}")
        if self._queued + len(samples) > self.max_samples:
            raise OverflowError(
                f"speech buffer full: {self._queued} + {len(samples)} samples > {self.max_samples} (max)"
            )
        if len(samples):
            self._parts.append(samples)
            self._queued += len(samples)
            self._tail += len(samples)
            self.peak_samples = max(self.peak_samples, self._queued)

    def mark(self, payload: Any) -> None:
        self._marks.append(Mark(self._tail, payload))

    def pull(self, n: int = RTC_FRAME_SAMPLES) -> Chunk:
        out = np.zeros(n, np.int16)
        got = 0
        while got < n and self._parts:
            part = self._parts[0]
            take = min(n - got, len(part))
            out[got : got + take] = part[:take]
            if take == len(part):
                self._parts.popleft()
            else:
                self._parts[0] = part[take:]
            got += take
        self._queued -= got
        self._head += got
        marks: list[Any] = []
        drained = self._queued == 0
        while self._marks and (
            self._marks[0].position < self._head or (drained and self._marks[0].position <= self._head)
        ):
            marks.append(self._marks.popleft().payload)
        started = got > 0 and not self._speaking
        self._speaking = got == n  # a chunk with silence in it ends the utterance
        return Chunk(out, marks, got, started)

    def flush(self) -> int:
        """Barge-in: drop everything queued (marks too); returns the number of samples dropped."""
        dropped = self._queued
        self._parts.clear()
        self._queued = 0
        self._head = self._tail
        self._marks.clear()
        self._speaking = False
        self.flushed_samples += dropped
        return dropped


ChunkObserver = Callable[[Chunk, int], None]


try:  # aiortc is optional for the cores above
    from aiortc.mediastreams import MediaStreamTrack
except ImportError:  # pragma: no cover
    MediaStreamTrack = object  # type: ignore[misc,assignment]


class PacedAudioTrack(MediaStreamTrack):  # type: ignore[misc]
    """aiortc audio track that sends `SpeechBuffer` content as 20 ms frames paced on the monotonic clock.

    `on_chunk(chunk, sent_ns)` is called for every frame handed to the encoder (marks due,
    the start of an utterance) — the adapter turns it into caption and timing events.
    """

    kind = "audio"

    def __init__(self, buffer: SpeechBuffer, *, clock: Clock | None = None, on_chunk: ChunkObserver | None = None):
        super().__init__()
        self.buffer = buffer
        self.clock = clock or MonotonicClock()
        self.on_chunk = on_chunk
        self._start_ns: int | None = None
        self._n = 0
        self._time_base = fractions.Fraction(1, RTC_RATE_HZ)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            from aiortc.mediastreams import MediaStreamError

            raise MediaStreamError
        now = self.clock.now_ns()
        if self._start_ns is None:
            self._start_ns = now
        deadline = self._start_ns + self._n * PTIME_MS * NS_PER_MS
        if deadline > now:
            await self.clock.sleep_until(deadline)
        elif now - deadline > 200 * NS_PER_MS:  # stalled (e.g. a busy loop): re-anchor, never burst
            self._start_ns = now - self._n * PTIME_MS * NS_PER_MS
        chunk = self.buffer.pull()
        frame = av.AudioFrame.from_ndarray(chunk.samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RTC_RATE_HZ
        frame.pts = self._n * RTC_FRAME_SAMPLES
        frame.time_base = self._time_base
        self._n += 1
        if self.on_chunk is not None and (chunk.marks or chunk.speech_samples):
            self.on_chunk(chunk, self.clock.now_ns())
        return frame
