from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.appearance import AppearanceKind
from liveloop.vision.tracker import OnResize, TrackerConfig, TrackerCore
from liveloop.vision.types import BadFrame, ChannelOrder, TrackStatus

from .conftest import marker_frame

NS = 1_000_000_000


def _markers(n: int) -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    """Two markers passing each other: A left→right at y=60, B right→left at y=110 (close, never touching)."""
    out = []
    for i in range(n):
        a = (20 + 8 * i, 60, 20, 20)
        b = (280 - 8 * i, 100, 20, 20)
        out.append((marker_frame([a, b]), [a, b]))
    return out


def _marker_tracker(**kw: object) -> TrackerCore:
    return TrackerCore(TrackerConfig(detector="color_marker", **kw))  # type: ignore[arg-type]


def test_ids_are_stable_while_objects_pass_each_other() -> None:
    trk = _marker_tracker(appearance=AppearanceKind.NONE)
    seen: dict[int, list[float]] = {}
    for i, (frame, _) in enumerate(_markers(30)):
        for t in trk.feed(frame, i * NS // 30):
            seen.setdefault(t.track_id, []).append(t.box.cy)
    assert sorted(seen) == [1, 2]  # two objects, two ids, never a third
    rows = sorted(np.mean(v) for v in seen.values())
    assert rows == pytest.approx([70, 110], abs=1)  # each id stayed on its own object
    assert trk.stats.tracks_started == 2


def test_tracks_are_reported_after_min_hits_with_velocity() -> None:
    trk = _marker_tracker(appearance=AppearanceKind.NONE, min_hits=3)
    outs = [trk.feed(f, i * NS // 30) for i, (f, _) in enumerate(_markers(10))]
    assert outs[0] == [] and outs[1] == [] and len(outs[2]) == 2
    a = next(t for t in outs[-1] if t.box.cy < 90)
    assert a.velocity[0] == pytest.approx(8 * 30, rel=0.15)  # 8 px per frame at 30 fps
    assert a.status is TrackStatus.CONFIRMED and a.captured_ns == 9 * NS // 30


def test_track_coasts_then_dies_when_the_object_vanishes() -> None:
    trk = _marker_tracker(appearance=AppearanceKind.NONE, max_coast_s=0.2)
    frames = _markers(6)
    for i, (f, _) in enumerate(frames):
        trk.feed(f, i * NS // 30)
    empty = marker_frame([])
    coasting = trk.feed(empty, 6 * NS // 30)
    assert {t.status for t in coasting} == {TrackStatus.COASTING}
    assert trk.feed(empty, 20 * NS // 30) == []


def test_detect_every_k_runs_the_detector_less_and_keeps_the_ids(carphone_frames: list[np.ndarray]) -> None:
    trk = TrackerCore(TrackerConfig(detector="blazeface", appearance=AppearanceKind.NCC))
    ids = set()
    for i, f in enumerate(carphone_frames[:24]):
        for t in trk.feed(f, i * NS // 30, detect_every=4):
            ids.add(t.track_id)
    assert trk.stats.detector_runs == 6
    assert ids == {1}


def test_bad_frames_raise_and_do_not_corrupt_state() -> None:
    trk = _marker_tracker()
    frames = _markers(3)
    trk.feed(frames[0][0], 0)
    with pytest.raises(BadFrame, match="dtype"):
        trk.feed(frames[1][0].astype(np.float32), NS // 30)
    with pytest.raises(BadFrame, match="shape"):
        trk.feed(frames[1][0][:, :, 0], NS // 30)
    with pytest.raises(BadFrame, match="numpy array"):
        trk.feed("not a frame", NS // 30)
    with pytest.raises(BadFrame, match="backwards"):
        trk.feed(frames[1][0], -1)
    assert trk.stats.frames == 1
    assert len(trk.feed(frames[1][0], NS // 30)) == 2


def test_size_change_resets_or_errors() -> None:
    small = marker_frame([(10, 10, 20, 20)], size=(160, 120))
    trk = _marker_tracker(on_resize=OnResize.ERROR)
    trk.feed(_markers(1)[0][0], 0)
    with pytest.raises(BadFrame, match="size changed from 320x240 to 160x120"):
        trk.feed(small, NS // 30)
    trk2 = _marker_tracker(min_hits=1)
    trk2.feed(_markers(1)[0][0], 0)
    out = trk2.feed(small, NS // 30)
    assert trk2.stats.resets == 1 and [t.track_id for t in out] == [3]  # ids are never reused


def test_rgb_frames_are_read_as_rgb() -> None:
    bgr = marker_frame([(50, 50, 20, 20)])
    trk = _marker_tracker(channel_order=ChannelOrder.RGB, min_hits=1)
    assert trk.feed(bgr[:, :, ::-1].copy(), 0)  # the same green marker, given in RGB


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="detect_every"):
        TrackerConfig(detect_every=0)
    with pytest.raises(ValueError, match="iou_min"):
        TrackerConfig(iou_min=1.0)
    with pytest.raises(ValueError, match="detect_every"):
        _marker_tracker().feed(marker_frame([]), 0, detect_every=0)


def test_a_track_that_coasted_away_is_recovered_where_it_was_last_seen() -> None:
    # a marker moves right fast, vanishes for 6 frames while it turns, reappears moving back
    trk = _marker_tracker(appearance=AppearanceKind.NONE, max_coast_s=1.0)
    ids = set()
    xs = [40 + 12 * i for i in range(10)] + [None] * 6 + [150 - 12 * i for i in range(8)]
    for i, x in enumerate(xs):
        frame = marker_frame([] if x is None else [(x, 100, 24, 24)])
        for t in trk.feed(frame, i * NS // 30):
            ids.add(t.track_id)
    assert ids == {1}
    assert trk.stats.tracks_started == 1
