"""Loss-resilient, adaptive frame rate (Artic: never wait for a lost frame).

Receiver side (the perception path): `LastGoodFrame` is a latest-wins slot. The
consumer ticks at its own rate and always gets a frame at once: the newest good
one, or — when the next frame is late or was lost — the last good one again,
marked as a repeat. Nothing ever waits for a retransmission. Frames that arrive
out of order (older than what was already delivered) are dropped.

Sender side: `AdaptiveFrameRate` decides per captured frame whether to send it.
The target rate follows the scene (mean absolute difference of a small grey
thumbnail against the last *sent* frame: a static scene needs few frames, a
moving one many; a cut is sent at once) and is capped by the bandwidth estimate
(at least `min_bits_per_frame` per frame at the current target bitrate, so a
starved link sends fewer, better frames instead of many broken ones).

    fps_scene = min_fps + (max_fps - min_fps) * clip(change / change_full, 0, 1)
    fps_bw    = bandwidth_bps / min_bits_per_frame
    fps       = clip(min(fps_scene, fps_bw), min_fps, max_fps)

Both are sans-I/O; `ResilientVideo` and `AdaptiveRateTrack` are the thin
asyncio/aiortc adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from liveloop.graph.clock import NS_PER_S, Clock, MonotonicClock

F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Delivered(Generic[F]):
    frame: F
    capture_ns: int
    repeated: bool  # True when this is the last good frame again (the next one was late or lost)
    age_ns: int  # now - capture_ns at delivery


class LastGoodFrame(Generic[F]):
    """Latest-wins slot with last-good replacement (sans-I/O)."""

    __slots__ = ("_capture_ns", "_frame", "_fresh", "delivered", "out_of_order", "received", "repeats", "replaced")

    def __init__(self) -> None:
        self._frame: F | None = None
        self._capture_ns = -1
        self._fresh = False
        self.received = 0
        self.delivered = 0
        self.repeats = 0
        self.out_of_order = 0
        self.replaced = 0  # fresh frames overwritten before anyone took them (latest wins)

    def put(self, frame: F, capture_ns: int) -> bool:
        """Offer a decoded frame; returns False (and counts it) when it is older than the one held."""
        self.received += 1
        if capture_ns <= self._capture_ns:
            self.out_of_order += 1
            return False
        if self._fresh:
            self.replaced += 1
        self._frame, self._capture_ns, self._fresh = frame, capture_ns, True
        return True

    def take(self, now_ns: int) -> Delivered[F] | None:
        """The newest frame, or the last good one again; None only before the first frame."""
        if self._frame is None:
            return None
        repeated = not self._fresh
        self._fresh = False
        self.delivered += 1
        self.repeats += repeated
        return Delivered(self._frame, self._capture_ns, repeated, now_ns - self._capture_ns)


@dataclass(frozen=True, slots=True)
class FrameRateConfig:
    min_fps: float = 5.0
    max_fps: float = 30.0
    change_full: float = 12.0  # mean abs grey-level change (0..255) that deserves max_fps
    cut: float = 40.0  # a change this large is a cut: send now
    min_bits_per_frame: int = 12_000
    thumb: int = 32  # thumbnail side for the scene measure (px)

    def __post_init__(self) -> None:
        if not 0 < self.min_fps <= self.max_fps:
            raise ValueError(f"need 0 < min_fps <= max_fps, got {self.min_fps} and {self.max_fps}")
        if self.change_full <= 0 or self.cut <= 0:
            raise ValueError(f"change_full and cut must be > 0, got {self.change_full} and {self.cut}")
        if self.min_bits_per_frame <= 0:
            raise ValueError(f"min_bits_per_frame must be > 0, got {self.min_bits_per_frame}")
        if self.thumb < 4:
            raise ValueError(f"thumb must be >= 4 px, got {self.thumb}")


@dataclass(frozen=True, slots=True)
class RateDecision:
    send: bool
    fps: float  # the target rate now
    change: float  # scene change against the last sent frame
    bandwidth_capped: bool


def thumbnail(gray: np.ndarray, side: int) -> np.ndarray:
    """(H, W) uint8 → (side, side) float32 by block means (cheap, no dependencies)."""
    if gray.ndim != 2:
        raise ValueError(f"need a 2-D grey image, got shape {gray.shape}")
    h, w = gray.shape
    ys = (np.arange(side + 1) * h) // side
    xs = (np.arange(side + 1) * w) // side
    sums = np.add.reduceat(np.add.reduceat(gray.astype(np.float32), ys[:-1], axis=0), xs[:-1], axis=1)
    counts = np.outer(np.diff(ys), np.diff(xs)).astype(np.float32)
    return sums / counts


class AdaptiveFrameRate:
    """Per frame: send it or not, from scene change and the bandwidth estimate (sans-I/O)."""

    def __init__(self, config: FrameRateConfig | None = None) -> None:
        self.config = config or FrameRateConfig()
        self._last_thumb: np.ndarray | None = None
        self._last_sent_ns: int | None = None
        self.sent = 0
        self.skipped = 0
        self.fps = self.config.max_fps

    def feed(self, gray: np.ndarray, now_ns: int, bandwidth_bps: float | None = None) -> RateDecision:
        c = self.config
        thumb = thumbnail(gray, c.thumb)
        change = c.cut if self._last_thumb is None else float(np.mean(np.abs(thumb - self._last_thumb)))
        fps = c.min_fps + (c.max_fps - c.min_fps) * min(1.0, change / c.change_full)
        capped = False
        if bandwidth_bps is not None:
            fps_bw = bandwidth_bps / c.min_bits_per_frame
            if fps_bw < fps:
                fps, capped = fps_bw, True
        fps = min(c.max_fps, max(c.min_fps, fps))
        self.fps = fps
        due = self._last_sent_ns is None or now_ns - self._last_sent_ns >= NS_PER_S / fps * 0.999
        send = due or (change >= c.cut and not capped)
        if send:
            self._last_thumb, self._last_sent_ns = thumb, now_ns
            self.sent += 1
        else:
            self.skipped += 1
        return RateDecision(send, fps, change, capped)


def luma(frame: Any) -> np.ndarray:
    """The Y plane of an av.VideoFrame (or a grey/RGB ndarray) as (H, W) uint8."""
    if isinstance(frame, np.ndarray):
        return frame if frame.ndim == 2 else frame.mean(axis=2).astype(np.uint8)
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    buf = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return buf[:, : plane.width]


# -- adapters -----------------------------------------------------------------------
try:
    from aiortc.mediastreams import MediaStreamTrack
except ImportError:  # pragma: no cover
    MediaStreamTrack = object  # type: ignore[misc,assignment]


def sender_bitrate_bps(sender: Any) -> float | None:
    """aiortc's current target bitrate for a video sender (driven by REMB), if its encoder exists."""
    enc = getattr(sender, "_RTCRtpSender__encoder", None)
    return None if enc is None else getattr(enc, "target_bitrate", None)


class AdaptiveRateTrack(MediaStreamTrack):  # type: ignore[misc]
    """Wraps a video track; passes on only the frames `AdaptiveFrameRate` decides to send."""

    kind = "video"

    def __init__(
        self, source: Any, config: FrameRateConfig | None = None, *, clock: Clock | None = None, sender: Any = None
    ) -> None:
        super().__init__()
        self.source = source
        self.rate = AdaptiveFrameRate(config)
        self.clock = clock or MonotonicClock()
        self.sender = sender  # set after addTrack, to read the bandwidth estimate
        self.decisions: list[RateDecision] = []

    async def recv(self) -> Any:
        while True:
            frame = await self.source.recv()
            bw = sender_bitrate_bps(self.sender) if self.sender is not None else None
            d = self.rate.feed(luma(frame), self.clock.now_ns(), bw)
            if len(self.decisions) < 10_000:
                self.decisions.append(d)
            if d.send:
                return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class ResilientVideo:
    """Reads a remote video track into a `LastGoodFrame`; `tick()` never waits for the network."""

    def __init__(self, track: Any, *, clock: Clock | None = None) -> None:
        self.track = track
        self.clock = clock or MonotonicClock()
        self.slot: LastGoodFrame[Any] = LastGoodFrame()

    async def read(self) -> None:
        """Run until the track ends (own this task in the session's TaskGroup)."""
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            self.slot.put(frame, self.clock.now_ns())

    def tick(self) -> Delivered[Any] | None:
        return self.slot.take(self.clock.now_ns())

    async def ticks(self, fps: float, n: int) -> list[Delivered[Any] | None]:
        """Take `n` frames at `fps` on the clock (what a perception node does each frame period)."""
        out = []
        t0 = self.clock.now_ns()
        for i in range(n):
            await self.clock.sleep_until(t0 + round(i * NS_PER_S / fps))
            out.append(self.tick())
        return out
