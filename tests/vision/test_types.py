from __future__ import annotations

import av
import numpy as np
import pytest

from liveloop.vision.types import BadFrame, Box, ChannelOrder, as_bgr


def test_box_geometry() -> None:
    b = Box(10, 20, 30, 40)
    assert (b.cx, b.cy) == (25, 40)
    assert Box.from_center(25, 40, 30, 40) == b
    assert b.clipped(20, 100) == Box(10, 20, 10, 40)
    assert b.shifted(1, -1) == Box(11, 19, 30, 40)


def test_bgr_passes_and_rgb_is_swapped() -> None:
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = 1  # B in BGR, R in RGB
    assert as_bgr(img)[0, 0].tolist() == [1, 0, 0]
    assert as_bgr(img, ChannelOrder.RGB)[0, 0].tolist() == [0, 0, 1]
    assert as_bgr(img, ChannelOrder.RGB).flags.c_contiguous


def test_av_videoframe_is_converted_to_bgr() -> None:
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = 200  # red
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    out = as_bgr(frame)
    assert out.shape == (32, 48, 3)
    assert out[0, 0, 2] > 150 and out[0, 0, 0] < 50


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (None, "None"),
        ([[1, 2, 3]], "numpy array"),
        (b"\x00" * 100, "numpy array"),
        (np.zeros((32, 32), np.uint8), "shape"),
        (np.zeros((32, 32, 4), np.uint8), "shape"),
        (np.zeros((32, 32, 3), np.float32), "dtype"),
        (np.zeros((0, 32, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 3), np.uint8), "too small"),
    ],
)
def test_bad_frames_name_the_problem(frame: object, message: str) -> None:
    with pytest.raises(BadFrame, match=message):
        as_bgr(frame)


def test_wrong_size_is_rejected_when_a_size_is_expected() -> None:
    with pytest.raises(BadFrame, match="640x480"):
        as_bgr(np.zeros((240, 320, 3), np.uint8), expect_size=(640, 480))
