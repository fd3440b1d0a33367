"""Values that flow through liveloop.vision: boxes, detections, tracks, predictions; frame checks.

Coordinates are pixels of the frame the tracker saw, boxes are ``(x, y, w, h)``
with ``(x, y)`` the top-left corner. Times are monotonic nanoseconds on the
graph clock (`liveloop.graph.clock`).

Frames. `as_bgr` is the one gate every frame passes: it accepts

- a NumPy array ``(H, W, 3)`` of ``uint8``; its channel order is said by the
  caller (`ChannelOrder.BGR`, OpenCV's order and the default, or
  `ChannelOrder.RGB`, what PyAV's ``rgb24`` and browsers give), and
- an ``av.VideoFrame`` (any pixel format; PyAV converts it),

and returns a contiguous BGR ``uint8`` array. Anything else raises `BadFrame`
saying what was wrong.

Errors::

    VisionError
     ├── BadFrame        the caller passed a frame that is not an image we can use
     └── ModelMissing    a detector/predictor file is not there (run `liveloop assets fetch`)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class VisionError(RuntimeError):
    """Base of liveloop.vision's errors."""


class BadFrame(VisionError, ValueError):
    """A frame was not a usable image (type, shape, dtype, size)."""


class ModelMissing(VisionError):
    """A model or weight file could not be found."""


class ChannelOrder(enum.Enum):
    BGR = "bgr"
    RGB = "rgb"


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels: top-left ``(x, y)``, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @classmethod
    def from_center(cls, cx: float, cy: float, w: float, h: float) -> Box:
        return cls(cx - w / 2, cy - h / 2, w, h)

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.w, self.h], dtype=np.float64)

    def as_ints(self) -> tuple[int, int, int, int]:
        return round(self.x), round(self.y), max(1, round(self.w)), max(1, round(self.h))

    def clipped(self, width: int, height: int) -> Box:
        x0, y0 = min(max(self.x, 0.0), width), min(max(self.y, 0.0), height)
        x1, y1 = min(max(self.x + self.w, 0.0), width), min(max(self.y + self.h, 0.0), height)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass(frozen=True, slots=True)
class Detection:
    box: Box
    score: float
    label: str


class TrackStatus(enum.Enum):
    TENTATIVE = "tentative"  # seen fewer than `min_hits` times
    CONFIRMED = "confirmed"  # updated by a measurement on this frame
    COASTING = "coasting"  # no measurement on this frame; box from the motion model


@dataclass(frozen=True, slots=True)
class Track:
    """One tracked object as of the frame captured at `captured_ns`."""

    track_id: int
    box: Box
    label: str
    score: float
    status: TrackStatus
    captured_ns: int  # capture time of the frame this box describes
    # centre velocity, px/s, as the producer estimated it (liveloop's tracker: its Kalman filter, which saw
    # the raw detections); None when the producer gives none (the predictor then fits one to the boxes)
    velocity: tuple[float, float] | None = None
    hits: int = 0
    frames_since_update: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class Forecast:
    """Future centre positions with uncertainty, from a track's valid time on.

    ``t_ns[k]`` is the time point k is for; ``xy[k]`` the predicted centre (px);
    ``sigma[k]`` the standard deviation of the centre (px, isotropic).
    """

    t_ns: np.ndarray  # (T,) int64
    xy: np.ndarray  # (T, 2) float64
    sigma: np.ndarray  # (T,) float64

    def to_json(self) -> list[dict[str, float]]:
        return [
            {"t_ns": int(t), "cx": float(p[0]), "cy": float(p[1]), "sigma": float(s)}
            for t, p, s in zip(self.t_ns, self.xy, self.sigma, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class PredictedTrack:
    """A track moved to the time its consumer will use it (PVT++), with a trajectory forecast."""

    track: Track
    valid_at_ns: int  # now + measured downstream latency
    box: Box  # predicted box at valid_at_ns
    sigma_px: float  # predicted centre uncertainty at valid_at_ns
    forecast: Forecast
    method: str  # "none", "kalman" or "learned"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def track_id(self) -> int:
        return self.track.track_id

    def to_json(self) -> dict[str, Any]:
        b = self.box
        t = self.track
        return {
            "id": t.track_id,
            "label": t.label,
            "status": t.status.value,
            "captured_ns": t.captured_ns,
            "valid_at_ns": self.valid_at_ns,
            "box": [b.x, b.y, b.w, b.h],
            "observed_box": [t.box.x, t.box.y, t.box.w, t.box.h],
            "sigma_px": self.sigma_px,
            "method": self.method,
            "trajectory": self.forecast.to_json(),
        }


def as_bgr(
    frame: Any,
    order: ChannelOrder = ChannelOrder.BGR,
    expect_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Check and convert one frame to a contiguous ``(H, W, 3)`` BGR uint8 array.

    `expect_size` is ``(width, height)``; a frame of another size raises `BadFrame`.
    """
    if frame is None:
        raise BadFrame("frame is None")
    if not isinstance(frame, np.ndarray):
        try:
            import av
        except ImportError:  # pragma: no cover - av is a dependency of the project
            av = None
        if av is not None and isinstance(frame, av.VideoFrame):
            if frame.width == 0 or frame.height == 0:
                raise BadFrame(f"video frame is empty ({frame.width}x{frame.height})")
            arr = frame.to_ndarray(format="bgr24")
            order = ChannelOrder.BGR
        else:
            raise BadFrame(
                f"frame must be a numpy array (H, W, 3) uint8 or an av.VideoFrame, got {type(frame).__name__}"
            )
    else:
        arr = frame
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BadFrame(f"frame must have shape (H, W, 3), got {arr.shape}")
    if arr.dtype != np.uint8:
        raise BadFrame(f"frame dtype must be uint8, got {arr.dtype}")
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise BadFrame(f"frame is empty ({w}x{h})")
    if h < 16 or w < 16:
        raise BadFrame(f"frame is too small to track in ({w}x{h}); need at least 16x16")
    if expect_size is not None and (w, h) != expect_size:
        raise BadFrame(f"frame size must be {expect_size[0]}x{expect_size[1]}, got {w}x{h}")
    if order is ChannelOrder.RGB:
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


@dataclass(frozen=True, slots=True)
class TrackBatch:
    """What `vision.Tracker` emits per processed frame: the tracks of that frame."""

    captured_ns: int
    frame_size: tuple[int, int]  # (width, height) px
    tracks: tuple[Track, ...]
    detect_every: int = 1  # the knob setting this frame was tracked with


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """What `vision.Predictor` emits: every track moved to `valid_at_ns`, with its forecast."""

    captured_ns: int
    valid_at_ns: int
    frame_size: tuple[int, int]
    tracks: tuple[PredictedTrack, ...]

    def trajectories(self) -> dict[int, Forecast]:
        return {p.track_id: p.forecast for p in self.tracks}

    def to_json(self) -> dict[str, Any]:
        return {
            "captured_ns": self.captured_ns,
            "valid_at_ns": self.valid_at_ns,
            "frame_size": list(self.frame_size),
            "tracks": [p.to_json() for p in self.tracks],
        }
