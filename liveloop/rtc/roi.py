"""Region-aware encoding (Artic): spend the bits where the conversation looks.

An importance map is a list of `Region`s (boxes in pixels, from the vision
tracks or configured). Three ways to act on it:

1. **x264 per-region quantiser** (`RoiTagger` + `RoiEncoder`): an FFmpeg filter
   graph ``buffer → addroi(region, qoffset=-1/5) … → addroi(whole frame, +1/3) →
   buffersink`` attaches region-of-interest side data to each frame; libx264
   (preset veryfast, or any preset with ``aq-mode=1``) turns it into a lower
   quantiser inside the regions and a higher one outside, at the same target
   bitrate. The first region wins where regions overlap, so the whole-frame
   background entry goes last.
2. **Background smoothing** (`smooth_background`): for encoders without a
   quantiser hook (aiortc's VP8): outside the regions the picture is replaced
   by a downscaled-then-upscaled copy, which costs the encoder few bits.
3. **In the browser**: the same smoothing on a canvas (static/app.js), regions
   sent over the data channel as ``{"type": "regions"}`` in [0, 1] units.

A filter graph's boxes are fixed once configured, so `RoiTagger` caches one
graph per set of 16-px-aligned boxes (macroblock units: finer changes would not
change the encoding anyway). Tag *after* any scaling: `reformat()` keeps the
side data without scaling its coordinates.
"""

from __future__ import annotations

import fractions
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

MB = 16  # macroblock size in pixels


@dataclass(frozen=True, slots=True)
class Region:
    """A box in pixels (top-left x, y, width, height)."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"region width and height must be > 0, got {self.w}x{self.h}")

    def aligned(self, width: int, height: int) -> Region:
        """Grown to whole macroblocks and clipped to the frame."""
        x0 = max(0, (self.x // MB) * MB)
        y0 = max(0, (self.y // MB) * MB)
        x1 = min(width, -(-(self.x + self.w) // MB) * MB)
        y1 = min(height, -(-(self.y + self.h) // MB) * MB)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"region {self} lies outside the {width}x{height} frame")
        return Region(x0, y0, x1 - x0, y1 - y0)

    def normalised(self, width: int, height: int) -> dict[str, float]:
        return {"x": self.x / width, "y": self.y / height, "w": self.w / width, "h": self.h / height}


def regions_from_boxes(
    boxes: Iterable[Any], width: int, height: int, *, margin: float = 0.25, max_regions: int = 8
) -> tuple[Region, ...]:
    """Importance regions from tracked boxes (anything with x, y, w, h), grown by `margin` on each side."""
    out: list[Region] = []
    for b in boxes:
        bx, by, bw, bh = (b.x, b.y, b.w, b.h) if hasattr(b, "x") else b
        mx, my = bw * margin, bh * margin
        try:
            out.append(
                Region(round(bx - mx), round(by - my), max(1, round(bw + 2 * mx)), max(1, round(bh + 2 * my))).aligned(
                    width, height
                )
            )
        except ValueError:
            continue  # a box that left the frame
        if len(out) >= max_regions:
            break
    return tuple(out)


def coverage(regions: Sequence[Region], width: int, height: int) -> float:
    """Share of the frame's pixels inside at least one region."""
    mask = np.zeros((height, width), bool)
    for r in regions:
        mask[r.y : r.y + r.h, r.x : r.x + r.w] = True
    return float(mask.mean())


@dataclass(frozen=True, slots=True)
class RoiConfig:
    """Quantiser offsets (FFmpeg's qoffset, in [-1, 1]: negative = better quality)."""

    region_qoffset: fractions.Fraction = fractions.Fraction(-1, 5)
    background_qoffset: fractions.Fraction = fractions.Fraction(1, 3)
    cache_size: int = 32

    def __post_init__(self) -> None:
        for name in ("region_qoffset", "background_qoffset"):
            v = getattr(self, name)
            if not -1 <= v <= 1:
                raise ValueError(f"{name} must be in [-1, 1], got {v}")
        if self.cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {self.cache_size}")


class RoiTagger:
    """Attaches FFmpeg region-of-interest side data to yuv420p frames (cached filter graphs)."""

    def __init__(self, width: int, height: int, config: RoiConfig | None = None) -> None:
        self.width, self.height = width, height
        self.config = config or RoiConfig()
        self._graphs: OrderedDict[tuple[Region, ...], tuple[Any, Any, Any]] = OrderedDict()
        self.graphs_built = 0

    def _graph(self, regions: tuple[Region, ...]) -> tuple[Any, Any]:
        hit = self._graphs.get(regions)
        if hit is not None:
            self._graphs.move_to_end(regions)
            return hit[1], hit[2]
        c = self.config
        g = av.filter.Graph()
        src = g.add_buffer(
            width=self.width, height=self.height, format="yuv420p", time_base=fractions.Fraction(1, 90_000)
        )
        prev = src
        for r in regions:
            f = g.add("addroi", f"x={r.x}:y={r.y}:w={r.w}:h={r.h}:qoffset={c.region_qoffset}")
            prev.link_to(f)
            prev = f
        if c.background_qoffset:
            f = g.add("addroi", f"x=0:y=0:w=iw:h=ih:qoffset={c.background_qoffset}")
            prev.link_to(f)
            prev = f
        sink = g.add("buffersink")
        prev.link_to(sink)
        g.configure()
        self._graphs[regions] = (g, src, sink)  # the graph must outlive its filters (PyAV frees it otherwise)
        self.graphs_built += 1
        if len(self._graphs) > c.cache_size:
            self._graphs.popitem(last=False)
        return src, sink

    def tag(self, frame: av.VideoFrame, regions: Sequence[Region]) -> av.VideoFrame:
        if (frame.width, frame.height) != (self.width, self.height):
            raise ValueError(f"frame is {frame.width}x{frame.height}, tagger is for {self.width}x{self.height}")
        if frame.format.name != "yuv420p":
            raise ValueError(f"frame must be yuv420p, got {frame.format.name}")
        key = tuple(r.aligned(self.width, self.height) for r in regions)
        if not key:
            return frame
        src, sink = self._graph(key)
        src.push(frame)
        out = sink.pull()
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    codec: str = "libx264"  # or "libvpx" (VP8)
    bitrate_bps: int = 400_000
    fps: int = 25
    preset: str = "veryfast"
    gop: int = 250

    def __post_init__(self) -> None:
        if self.codec not in ("libx264", "libvpx"):
            raise ValueError(f"codec must be 'libx264' or 'libvpx', got {self.codec!r}")
        if self.bitrate_bps < 10_000:
            raise ValueError(f"bitrate_bps must be >= 10000, got {self.bitrate_bps}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be in 1..120, got {self.fps}")
        if self.preset == "ultrafast" and self.codec == "libx264":
            raise ValueError("preset ultrafast ignores region-of-interest data in x264; use veryfast or faster+aq")


class RoiEncoder:
    """One video stream encoded at a target bitrate, region-aware when given regions."""

    def __init__(self, width: int, height: int, config: EncoderConfig | None = None, roi: RoiConfig | None = None):
        self.config = c = config or EncoderConfig()
        self.width, self.height = width, height
        cc = av.CodecContext.create(c.codec, "w")
        cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
        cc.bit_rate = c.bitrate_bps
        cc.framerate = fractions.Fraction(c.fps, 1)
        cc.time_base = fractions.Fraction(1, c.fps)
        cc.gop_size = c.gop
        if c.codec == "libx264":
            cc.options = {"preset": c.preset, "tune": "zerolatency", "rc-lookahead": "0"}
        else:
            cc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        cc.open()
        self.cc = cc
        self.tagger = RoiTagger(width, height, roi)
        self._n = 0
        self.bytes_out = 0
        self.frames_in = 0

    def encode(self, frame: av.VideoFrame, regions: Sequence[Region] = ()) -> list[av.Packet]:
        f = (
            av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
            if frame.format.name != "yuv420p"
            else frame
        )
        f.pts, f.time_base = self._n, self.cc.time_base
        self._n += 1
        self.frames_in += 1
        if regions:
            f = self.tagger.tag(f, regions)
        packets = list(self.cc.encode(f))
        self.bytes_out += sum(p.size for p in packets)
        return packets

    def flush(self) -> list[av.Packet]:
        packets = list(self.cc.encode(None))
        self.bytes_out += sum(p.size for p in packets)
        return packets

    @property
    def bitrate_bps(self) -> float:
        return self.bytes_out * 8 * self.config.fps / max(1, self.frames_in)


def smooth_background(yuv: np.ndarray, regions: Sequence[Region], factor: int = 4) -> np.ndarray:
    """Blur a (H*3/2, W) yuv420p array outside the regions by downscaling `factor`× and back.

    The luma plane and both chroma planes are handled; inside the regions the
    pixels are untouched. Returns a new array.
    """
    import cv2

    h = yuv.shape[0] * 2 // 3
    w = yuv.shape[1]
    if yuv.shape[0] != h * 3 // 2:
        raise ValueError(f"expected a yuv420p array of shape (H*3/2, W), got {yuv.shape}")
    out = yuv.copy()
    y = out[:h]
    small = cv2.resize(y, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((h, w), bool)
    for r in regions:
        mask[r.y : r.y + r.h, r.x : r.x + r.w] = True
    y[~mask] = blurred[~mask]
    # chroma: U and V are stored as (H/2, W/2) planes packed into the (H/2, W) rows below luma
    uv = out[h:].reshape(2, h // 2, w // 2)
    cmask = mask[::2, ::2]
    for p in range(2):
        plane = uv[p]
        s = cv2.resize(plane, (max(1, w // 2 // factor), max(1, h // 2 // factor)), interpolation=cv2.INTER_AREA)
        b = cv2.resize(s, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR)
        plane[~cmask] = b[~cmask]
    out[h:] = uv.reshape(h // 2, w)
    return out
