"""A video file as a live camera: decoded once, looped, paced on the monotonic clock.

Used where a real camera is not there: the server-side sender (robot camera,
outbound video), the loss tests and the benchmarks. Frames are yuv420p with
pts on the 90 kHz RTP clock.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av

from liveloop.graph.clock import NS_PER_S, Clock, MonotonicClock

try:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
except ImportError:  # pragma: no cover
    MediaStreamTrack = object  # type: ignore[misc,assignment]

VIDEO_CLOCK_HZ = 90_000


def load_frames(
    path: str | Path, *, max_frames: int | None = None, size: tuple[int, int] | None = None
) -> list[av.VideoFrame]:
    """Decode a file to yuv420p frames (optionally resized to (width, height))."""
    out: list[av.VideoFrame] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if size is not None:
                frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            elif frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            out.append(frame)
            if max_frames is not None and len(out) >= max_frames:
                break
    if not out:
        raise ValueError(f"no video frames in {path}")
    return out


class FileVideoTrack(MediaStreamTrack):  # type: ignore[misc]
    """Loops pre-decoded frames at `fps`, paced on the clock (pull-based, aiortc style)."""

    kind = "video"

    def __init__(self, frames: list[av.VideoFrame], fps: float = 25.0, *, clock: Clock | None = None) -> None:
        super().__init__()
        if not frames:
            raise ValueError("FileVideoTrack needs at least one frame")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.frames = frames
        self.fps = fps
        self.clock = clock or MonotonicClock()
        self._n = 0
        self._start_ns: int | None = None
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK_HZ)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = self.clock.now_ns()
        if self._start_ns is None:
            self._start_ns = now
        await self.clock.sleep_until(self._start_ns + round(self._n * NS_PER_S / self.fps))
        src = self.frames[self._n % len(self.frames)]
        frame = av.VideoFrame.from_ndarray(src.to_ndarray(), format="yuv420p")
        frame.pts = round(self._n * VIDEO_CLOCK_HZ / self.fps)
        frame.time_base = self._time_base
        self._n += 1
        return frame
