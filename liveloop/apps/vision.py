"""The session's eyes: camera frames → tracks with predicted paths → client, responder, bitrate regions.

`VisionPipeline.feed(frame, capture_ns, now_ns) -> SeenFrame` (blocking: the
session runs it in a worker thread) runs liveloop.vision's tracker and its
latency-aware predictor on one frame and returns what the session sends:

    {"type": "tracks", "tracks": [{"id", "label", "box": [x, y, w, h], "path": [[x, y], …]}], "age_ms"}
    {"type": "regions", "regions": [{"x", "y", "w", "h"}]}     ← importance map for region-aware sending

All coordinates are normalised to [0, 1] so the browser can draw them at any size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.rtc.roi import regions_from_boxes


@dataclass(frozen=True, slots=True)
class VisionConfig:
    detector: str = "blazeface"
    detect_every: int = 3
    max_fps: float = 15.0
    region_margin: float = 0.25

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0 < self.max_fps <= 60:
            raise ValueError(f"max_fps must be in (0, 60], got {self.max_fps}")


@dataclass(slots=True)
class SeenFrame:
    tracks: list[Any]  # liveloop.vision PredictedTrack
    events: list[dict[str, Any]] = field(default_factory=list)


class VisionPipeline:
    def __init__(self, config: VisionConfig | None = None) -> None:
        from liveloop.vision.predictor import PredictorConfig, PredictorCore
        from liveloop.vision.tracker import TrackerConfig, TrackerCore

        self.config = config or VisionConfig()
        self.tracker = TrackerCore(TrackerConfig(detector=self.config.detector, detect_every=self.config.detect_every))
        self.predictor = PredictorCore(PredictorConfig())
        self.frames = 0

    def feed(self, frame: Any, capture_ns: int, now_ns: int) -> SeenFrame:
        bgr = frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="bgr24")
        h, w = bgr.shape[:2]
        tracks = self.tracker.feed(bgr, capture_ns)
        predicted = self.predictor.feed(tracks, now_ns)
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
        return SeenFrame(
            predicted,
            [
                {"type": "tracks", "tracks": out, "age_ms": (now_ns - capture_ns) / 1e6},
                {"type": "regions", "regions": [r.normalised(w, h) for r in regions]},
            ],
        )
