from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.appearance import AppearanceKind, AppearanceTracker, TemplateTracker, make_appearance
from liveloop.vision.types import Box

BOX = Box(200, 160, 170, 170)  # around the carphone face (3x upscaled)


def _shifted(frame: np.ndarray, k: int) -> np.ndarray:
    return np.roll(frame, (6 * k, 9 * k), axis=(0, 1))  # the picture moves 9 px right, 6 px down per frame


def test_ncc_template_tracker_follows_the_face(carphone_frames: list[np.ndarray]) -> None:
    app = make_appearance(AppearanceKind.NCC)
    assert isinstance(app, TemplateTracker)
    assert app.init(carphone_frames[0], BOX)
    for k in range(1, 6):
        out = app.update(_shifted(carphone_frames[0], k))
        assert out is not None
        # the template is matched at 40/170 scale: a step is ~4 px
        assert out.x == pytest.approx(200 + 9 * k, abs=5) and out.y == pytest.approx(160 + 6 * k, abs=5)


def test_ncc_reports_loss_on_a_different_picture(carphone_frames: list[np.ndarray]) -> None:
    app = TemplateTracker()
    app.init(carphone_frames[0], BOX)
    assert app.update(np.zeros_like(carphone_frames[0])) is None


def test_opencv_kcf_lags_one_frame_and_csrt_does_not(carphone_frames: list[np.ndarray]) -> None:
    """Why NCC is the default: in opencv-contrib 4.14 KCF's box trails the object by one frame."""
    kcf = AppearanceTracker(AppearanceKind.KCF, max_template_px=400)
    kcf.init(carphone_frames[0], BOX)
    xs = [kcf.update(_shifted(carphone_frames[0], k)).x for k in range(1, 4)]  # type: ignore[union-attr]
    assert xs[1:] == pytest.approx([200 + 9 * 1, 200 + 9 * 2], abs=3)  # frame k reports frame k-1
    csrt = AppearanceTracker(AppearanceKind.CSRT)
    csrt.init(carphone_frames[0], BOX)
    out = csrt.update(_shifted(carphone_frames[0], 1))
    assert out is not None and out.x == pytest.approx(209, abs=6)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="NONE"):
        make_appearance(AppearanceKind.NONE)
    with pytest.raises(ValueError, match="search_scale"):
        TemplateTracker(search_scale=1.0)
    with pytest.raises(ValueError):
        AppearanceTracker(AppearanceKind.NCC)
    app = TemplateTracker()
    assert not app.init(np.zeros((100, 100, 3), np.uint8), Box(98, 98, 20, 20))  # box almost off the frame
    assert app.update(np.zeros((100, 100, 3), np.uint8)) is None
