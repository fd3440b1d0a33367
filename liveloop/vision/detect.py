"""Detectors whose models ship inside PyPI packages, loaded once per process.

========================  =====================================================  ==========================
name                      model (where it comes from)                            cost at 640x480 (this CPU)
========================  =====================================================  ==========================
``blazeface``             BlazeFace short-range .tflite from the mediapipe        ≈ 2–5 ms
                          0.10.21 wheel (asset ``blazeface``), run by the
                          current mediapipe Tasks API ``FaceDetector``
``haar_face``             OpenCV's Haar cascade XML (opencv-contrib-python-       ≈ 7 ms at half scale,
                          headless 4.x wheel, ``cv2.data.haarcascades``)          20–30 ms at full scale
``hog_people``            OpenCV's HOG + linear SVM people detector (compiled     ≈ 60–150 ms
                          in)
``color_marker``          an HSV colour threshold + connected components (robot   < 1 ms
                          demos: a coloured marker on the object)
========================  =====================================================  ==========================

(`benchmarks/tracking_elae.py` measures these side by side; the numbers above
are its medians on a quiet machine.) BlazeFace is the default: it is both the
fastest and the most accurate face detector here. Its short-range model misses
faces smaller than about 70 px in a 640x480 frame (measured on the rendered
sequences: 0 % found at 60 px, 50 % at 70 px, 90 % at 80 px); the full-range
model (``BlazeFaceDetector(variant="full_range")``) finds 80 % at 50 px.

Every detector takes a BGR ``uint8`` frame (see `liveloop.vision.types.as_bgr`)
and returns `Detection`s in frame pixels.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from liveloop.vision.types import Box, Detection, ModelMissing


class Detector(Protocol):
    name: str

    def detect(self, bgr: np.ndarray) -> list[Detection]: ...


# ----------------------------------------------------------------------------- BlazeFace
@functools.lru_cache(maxsize=4)
def _blazeface_model(variant: str, min_score: float) -> Any:
    try:
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:
        raise ModelMissing("the blazeface detector needs mediapipe (pip install --no-deps mediapipe absl-py)") from exc
    from liveloop.assets import AssetError, asset_path

    filename = {
        "short_range": "face_detection_short_range.tflite",
        "full_range": "face_detection_full_range_sparse.tflite",
    }[variant]
    try:
        path = asset_path("blazeface", filename)
    except AssetError as exc:
        raise ModelMissing(f"BlazeFace model {filename} is missing: {exc}") from exc
    opts = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.IMAGE,
        min_detection_confidence=min_score,
    )
    det = vision.FaceDetector.create_from_options(opts)
    _close_before_executors_stop(det)
    return det


def _close_before_executors_stop(det: Any) -> None:
    """mediapipe closes through a thread pool; at interpreter exit that pool is gone before
    `atexit` hooks (and `__del__`) run, which prints a traceback. Close it earlier, on the
    threading module's exit hooks, which run before concurrent.futures shuts its pools."""

    def close() -> None:
        with contextlib.suppress(Exception):
            det.close()

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(close)
    else:  # pragma: no cover - CPython always has it (3.9+)
        atexit.register(close)


@dataclass(slots=True)
class BlazeFaceDetector:
    """Google's BlazeFace (short range: faces within ~2 m, the webcam case)."""

    variant: str = "short_range"
    min_score: float = 0.5
    name: str = "blazeface"

    def __post_init__(self) -> None:
        if self.variant not in ("short_range", "full_range"):
            raise ValueError(f"variant must be 'short_range' or 'full_range', got {self.variant!r}")
        if not 0 < self.min_score < 1:
            raise ValueError(f"min_score must be in (0, 1), got {self.min_score}")
        _blazeface_model(self.variant, self.min_score)  # load now, not on the first frame

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        import mediapipe as mp

        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        result = _blazeface_model(self.variant, self.min_score).detect(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        )
        out = []
        for d in result.detections:
            bb = d.bounding_box
            score = float(d.categories[0].score) if d.categories else 1.0
            out.append(Detection(Box(bb.origin_x, bb.origin_y, bb.width, bb.height), score, "face"))
        return out


# ----------------------------------------------------------------------------- OpenCV
@functools.lru_cache(maxsize=4)
def _haar(filename: str) -> Any:
    import cv2

    path = f"{cv2.data.haarcascades}{filename}"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ModelMissing(
            f"Haar cascade {path} is missing or unreadable; install opencv-contrib-python-headless 4.x "
            "(the OpenCV 5 wheels ship no Haar XML files)"
        )
    return cascade


@dataclass(slots=True)
class HaarFaceDetector:
    """Viola–Jones frontal-face cascade; `scale` < 1 detects on a downscaled frame (faster)."""

    scale: float = 0.5
    min_neighbors: int = 4
    min_size_px: int = 24  # in the downscaled frame
    cascade: str = "haarcascade_frontalface_default.xml"
    name: str = "haar_face"

    def __post_init__(self) -> None:
        if not 0.1 <= self.scale <= 1.0:
            raise ValueError(f"scale must be in [0.1, 1], got {self.scale}")
        _haar(self.cascade)

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        import cv2

        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if self.scale != 1.0:
            gray = cv2.resize(gray, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        rects, _, weights = _haar(self.cascade).detectMultiScale3(
            gray,
            scaleFactor=1.1,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size_px, self.min_size_px),
            outputRejectLevels=True,
        )
        s = 1.0 / self.scale
        return [
            Detection(Box(x * s, y * s, w * s, h * s), float(min(1.0, wt / 10.0)), "face")
            for (x, y, w, h), wt in zip(rects, np.ravel(weights), strict=False)
        ]


@functools.lru_cache(maxsize=1)
def _hog() -> Any:
    import cv2

    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


@dataclass(slots=True)
class HogPeopleDetector:
    """Dalal–Triggs HOG pedestrian detector (coefficients compiled into OpenCV)."""

    scale: float = 1.0
    min_score: float = 0.3
    name: str = "hog_people"

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        import cv2

        img = bgr if self.scale == 1.0 else cv2.resize(bgr, None, fx=self.scale, fy=self.scale)
        rects, weights = _hog().detectMultiScale(img, winStride=(8, 8), padding=(8, 8), scale=1.05)
        s = 1.0 / self.scale
        out = []
        for (x, y, w, h), wt in zip(rects, np.ravel(weights), strict=False):
            if wt >= self.min_score:
                out.append(Detection(Box(x * s, y * s, w * s, h * s), float(wt), "person"))
        return out


@dataclass(slots=True)
class ColorMarkerDetector:
    """Blobs of one colour (HSV range, OpenCV's H in 0..179): a marker stuck on a robot or an object."""

    hsv_lo: tuple[int, int, int] = (40, 120, 80)  # default: saturated green
    hsv_hi: tuple[int, int, int] = (80, 255, 255)
    min_area_px: int = 60
    label: str = "marker"
    name: str = "color_marker"

    def __post_init__(self) -> None:
        for lo, hi in zip(self.hsv_lo, self.hsv_hi, strict=True):
            if lo > hi:
                raise ValueError(f"hsv_lo must be <= hsv_hi per channel, got {self.hsv_lo} > {self.hsv_hi}")

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        import cv2

        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        mask = cv2.inRange(hsv, np.array(self.hsv_lo, np.uint8), np.array(self.hsv_hi, np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        out = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area >= self.min_area_px:
                out.append(Detection(Box(x, y, w, h), float(min(1.0, area / (w * h))), self.label))
        return out


DETECTORS = ("blazeface", "haar_face", "hog_people", "color_marker")


def make_detector(name: str, **kwargs: Any) -> Detector:
    """A detector by name (see the table in this module's docstring)."""
    factories: dict[str, type] = {
        "blazeface": BlazeFaceDetector,
        "haar_face": HaarFaceDetector,
        "hog_people": HogPeopleDetector,
        "color_marker": ColorMarkerDetector,
    }
    try:
        cls = factories[name]
    except KeyError:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {name!r}") from None
    return cls(**kwargs)
