from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.detect import (
    BlazeFaceDetector,
    ColorMarkerDetector,
    HaarFaceDetector,
    HogPeopleDetector,
    make_detector,
)

from .conftest import marker_frame


def test_blazeface_finds_the_real_face(carphone_frames: list[np.ndarray]) -> None:
    det = BlazeFaceDetector()
    found = det.detect(carphone_frames[0])
    assert len(found) == 1
    f = found[0]
    assert f.label == "face" and f.score > 0.8
    assert 80 < f.box.w < 300  # a 3x upscaled QCIF face
    h, w = carphone_frames[0].shape[:2]
    assert 0.2 * w < f.box.cx < 0.8 * w and 0.2 * h < f.box.cy < 0.8 * h  # the man's face, centre of the shot


def test_haar_agrees_with_blazeface(carphone_frames: list[np.ndarray]) -> None:
    bf = BlazeFaceDetector().detect(carphone_frames[0])[0].box
    found = HaarFaceDetector().detect(carphone_frames[0])
    assert found, "Haar found no face"
    best = min(found, key=lambda d: np.hypot(d.box.cx - bf.cx, d.box.cy - bf.cy))
    assert np.hypot(best.box.cx - bf.cx, best.box.cy - bf.cy) < 0.3 * bf.w


def test_colour_marker_box_is_exact() -> None:
    found = ColorMarkerDetector().detect(marker_frame([(50, 60, 20, 30), (200, 100, 25, 25)]))
    boxes = sorted((d.box.x, d.box.y, d.box.w, d.box.h) for d in found)
    assert boxes == [(50, 60, 20, 30), (200, 100, 25, 25)]
    assert ColorMarkerDetector().detect(marker_frame([])) == []


def test_hog_runs_on_a_real_frame(carphone_frames: list[np.ndarray]) -> None:
    out = HogPeopleDetector(scale=0.5).detect(carphone_frames[0])
    assert isinstance(out, list)  # a head-and-shoulders shot: no full pedestrian is required here
    assert all(d.label == "person" for d in out)


def test_unknown_detector_and_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="detector must be one of"):
        make_detector("yolo")
    with pytest.raises(ValueError, match="variant"):
        BlazeFaceDetector(variant="tiny")
    with pytest.raises(ValueError, match="hsv_lo"):
        ColorMarkerDetector(hsv_lo=(90, 0, 0), hsv_hi=(80, 255, 255))
    with pytest.raises(ValueError, match="scale"):
        HaarFaceDetector(scale=0.01)
