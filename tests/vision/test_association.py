from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.association import associate, center_distance, iou, iou_matrix


def test_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [10, 0, 10, 10], [100, 100, 5, 5]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0]])
    np.testing.assert_allclose(iou(np.repeat(a, 2, 0), b[:2]), [1.0, 1 / 3])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 4)


def test_hungarian_finds_the_global_best_not_the_greedy_one() -> None:
    # greedy on track 0 would take det 0 (IoU 0.6) and leave track 1 with nothing
    tracks = np.array([[0, 0, 10, 10], [4, 0, 10, 10]])
    dets = np.array([[3, 0, 10, 10], [-3, 0, 10, 10]])
    a = associate(tracks, dets, iou_min=0.3)
    assert sorted(a.matches) == [(0, 1), (1, 0)]
    assert a.unmatched_tracks == () and a.unmatched_detections == ()


def test_order_of_detections_does_not_change_the_pairs() -> None:
    tracks = np.array([[0, 0, 20, 20], [100, 100, 20, 20], [200, 0, 20, 20]])
    dets = np.array([[202, 1, 20, 20], [3, 2, 20, 20], [98, 101, 20, 20]])
    a = associate(tracks, dets)
    assert sorted(a.matches) == [(0, 1), (1, 2), (2, 0)]
    b = associate(tracks, dets[::-1])
    assert sorted(b.matches) == [(0, 1), (1, 0), (2, 2)]


def test_gate_leaves_weak_overlaps_unmatched() -> None:
    tracks = np.array([[0, 0, 10, 10]])
    dets = np.array([[8, 0, 10, 10]])  # IoU 20/180 ≈ 0.11
    a = associate(tracks, dets, iou_min=0.3)
    assert a.matches == () and a.unmatched_tracks == (0,) and a.unmatched_detections == (0,)


def test_second_stage_pairs_fast_objects_by_centre_distance() -> None:
    tracks = np.array([[0, 0, 20, 20], [200, 200, 20, 20]])
    dets = np.array([[25, 0, 20, 20], [400, 400, 20, 20], [210, 200, 20, 40]])
    assert associate(tracks, dets, iou_min=0.3).matches == ()
    a = associate(tracks, dets, iou_min=0.3, max_center_dist=1.5)
    # det 0: 1.25 box sizes away, no overlap; det 2: IoU 0.2 (below the gate), 0.7 sizes away, size ratio 1.4
    assert sorted(a.matches) == [(0, 0), (1, 2)]
    assert a.unmatched_detections == (1,)
    tiny = associate(tracks[:1], np.array([[25, 0, 5, 5]]), iou_min=0.3, max_center_dist=1.5)
    assert tiny.matches == ()  # a box 4x smaller is another object
    np.testing.assert_allclose(center_distance(tracks[:1], dets[:1]), [[25 / 20]])


def test_bad_gate_is_rejected() -> None:
    with pytest.raises(ValueError, match="iou_min"):
        associate(np.zeros((1, 4)), np.zeros((1, 4)), iou_min=1.5)
