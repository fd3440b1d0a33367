"""The session's eyes: camera frames → tracks with predicted paths → client, responder, bitrate regions.

`VisionPipeline.feed(frame, capture_ns, now_ns) -> SeenFrame` (blocking: the
session runs it in a worker thread) runs liveloop.vision's tracker and its
latency-aware predictor on one frame and returns what the session sends:

    {"type": "tracks", "tracks": [{"id", "label", "box": [x, y, w, h], "path": [[x, y], …]}], "age_ms"}
    {"type": "regions", "regions": [{"x", "y", "w", "h"}]}     ← importance map for region-aware sending

All coordinates are normalised to [0, 1] so the browser can draw them at any size.

When the boxes are for (PVT++). Each box is predicted to the time it will be
used, ``valid_at = t_out + downstream``:

- ``t_out`` is when the predictor runs, after the tracker: the session's
  ``now_ns`` (taken when it handed the frame over) plus the time this call has
  taken so far, measured on the pipeline's clock;
- ``downstream`` is the measured time from the prediction until the output is
  used (`UseTime`): the path latency, i.e. the caller's measure when it passes
  one (``latency_ns``: in a graph, ``ctx.downstream_latency_ns(port)``, the mean
  service time and queue wait of the nodes after the port on a budgeted path,
  as `vision.Predictor` uses), else the measured tail of this call (building the
  events); plus half the mean interval between outputs: the overlay and the
  region map use each output until the next one replaces it, on average for half
  that interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.rtc.roi import regions_from_boxes

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class VisionConfig:
    detector: str = "blazeface"
    detect_every: int = 3
    max_fps: float = 15.0
    region_margin: float = 0.25
    max_hold_s: float = 0.5  # never count an output as used for longer than this (a stalled camera)

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0 < self.max_fps <= 60:
            raise ValueError(f"max_fps must be in (0, 60], got {self.max_fps}")
        if not self.max_hold_s > 0:
            raise ValueError(f"max_hold_s must be > 0, got {self.max_hold_s}")


class UseTime:
    """How long after the predictor runs its output is used, on average (sans-I/O; times in ns).

    ``observe(tail_ns, out_ns)`` after each output: `tail_ns` from the prediction to the
    output leaving, `out_ns` when it left (on the session's clock). ``latency_ns(path_ns)``
    is the path latency (`path_ns` when the caller measured it, else the mean tail) plus half
    the mean interval between outputs (each capped at `max_hold_ns`): the consumer uses each
    output until the next replaces it. Means are exponential, so the estimate follows a
    changing frame rate.
    """

    __slots__ = ("_alpha", "_interval_ns", "_last_out_ns", "_max_hold_ns", "_tail_ns")

    def __init__(self, max_hold_ns: int, alpha: float = 0.1) -> None:
        if max_hold_ns <= 0:
            raise ValueError(f"max_hold_ns must be > 0, got {max_hold_ns}")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha
        self._max_hold_ns = max_hold_ns
        self._tail_ns: float | None = None
        self._interval_ns: float | None = None
        self._last_out_ns: int | None = None

    def observe(self, tail_ns: int, out_ns: int) -> None:
        self._tail_ns = self._mean(self._tail_ns, max(0, tail_ns))
        if self._last_out_ns is not None and out_ns > self._last_out_ns:
            gap = min(out_ns - self._last_out_ns, self._max_hold_ns)
            self._interval_ns = self._mean(self._interval_ns, gap)
        self._last_out_ns = out_ns

    def _mean(self, mean: float | None, x: float) -> float:
        return float(x) if mean is None else mean + self._alpha * (x - mean)

    def latency_ns(self, path_ns: int | None = None) -> int:
        path = (self._tail_ns or 0.0) if path_ns is None else max(0, path_ns)
        return round(path + 0.5 * (self._interval_ns or 0.0))


@dataclass(slots=True)
class SeenFrame:
    tracks: list[Any]  # liveloop.vision PredictedTrack
    events: list[dict[str, Any]] = field(default_factory=list)
    valid_at_ns: int = 0  # the time the boxes are predicted to (session clock)


class VisionPipeline:
    def __init__(self, config: VisionConfig | None = None, *, clock: Clock | None = None) -> None:
        from liveloop.vision.predictor import PredictorConfig, PredictorCore
        from liveloop.vision.tracker import TrackerConfig, TrackerCore

        self.config = config or VisionConfig()
        self.clock: Clock = clock or MonotonicClock()  # measures durations inside feed() only
        self.tracker = TrackerCore(TrackerConfig(detector=self.config.detector, detect_every=self.config.detect_every))
        self.predictor = PredictorCore(PredictorConfig())
        self.use_time = UseTime(round(self.config.max_hold_s * NS_PER_S))
        self.frames = 0

    def feed(self, frame: Any, capture_ns: int, now_ns: int, latency_ns: int | None = None) -> SeenFrame:
        """Track and predict one frame. `now_ns`: when the caller handed it over (its clock, like `capture_ns`);
        `latency_ns`: the caller's measured latency from this output to its consumers (None: the tail of this
        call); half the interval between outputs is added to it (see the module docstring).
        """
        t0 = self.clock.now_ns()
        bgr = frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="bgr24")
        h, w = bgr.shape[:2]
        tracks = self.tracker.feed(bgr, capture_ns)
        t_pred = self.clock.now_ns()
        out_ns = now_ns + (t_pred - t0)  # the predictor runs now, on the caller's clock
        downstream = self.use_time.latency_ns(latency_ns)
        predicted = self.predictor.feed(tracks, out_ns, downstream)
        self.frames += 1
        out = []
        for p in predicted:
            b = p.box
            path = [[float(x) / w, float(y) / h] for x, y in p.forecast.xy]
            out.append(
                {
                    "id": p.track_id,
                    "label": p.track.label,
                    "box": [b.x / w, b.y / h, b.w / w, b.h / h],
                    "path": path,
                    "status": p.track.status.value,
                }
            )
        regions = regions_from_boxes([p.box for p in predicted], w, h, margin=self.config.region_margin)
        events: list[dict[str, Any]] = [
            {"type": "tracks", "tracks": out, "age_ms": (out_ns - capture_ns) / 1e6},
            {"type": "regions", "regions": [r.normalised(w, h) for r in regions]},
        ]
        tail = self.clock.now_ns() - t_pred
        self.use_time.observe(tail, out_ns + tail)
        return SeenFrame(predicted, events, out_ns + downstream)
