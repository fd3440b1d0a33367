"""Appearance trackers between detections: normalised cross-correlation, OpenCV's KCF, CSRT, MIL.

Between two detector runs ("detect every k frames") each track follows its own
template with one of these:

- ``NCC`` (default): a grey template matched by normalised cross-correlation
  (``cv2.matchTemplate``) in a window around the last box, the template blended
  towards each new match. Cheapest, and exact on translation.
- ``KCF``, ``CSRT``, ``MIL`` from ``opencv-contrib-python-headless`` 4.x. Measured
  here (4.14.0.94): KCF reports the *previous* frame's position (one frame of lag:
  after shifting an image by 9 px per frame its box trails by one step, see
  tests/vision/test_appearance.py), which defeats its purpose for latency-aware
  tracking; CSRT and MIL are right but 5–10× dearer than NCC.

To keep the per-frame cost bounded, the tracker works on a crop around the last
box (``search_scale`` × the box, so a fast object can still be found) instead
of the whole frame; the box returned is mapped back to frame pixels.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from liveloop.vision.types import Box


class AppearanceKind(enum.Enum):
    NONE = "none"  # coast on the Kalman filter between detections
    NCC = "ncc"
    KCF = "kcf"
    CSRT = "csrt"
    MIL = "mil"


def _create(kind: AppearanceKind) -> Any:
    import cv2

    if kind is AppearanceKind.KCF:
        return cv2.TrackerKCF_create()
    if kind is AppearanceKind.CSRT:
        return cv2.TrackerCSRT_create()
    if kind is AppearanceKind.MIL:
        return cv2.TrackerMIL_create()
    raise ValueError(f"no OpenCV tracker for {kind}")


class AppearanceTracker:
    """One object's template tracker, run on a crop around its last box."""

    __slots__ = ("_crop_origin", "_impl", "_scale", "box", "kind", "max_template_px", "search_scale")

    def __init__(self, kind: AppearanceKind, search_scale: float = 3.0, max_template_px: int = 48) -> None:
        if kind in (AppearanceKind.NONE, AppearanceKind.NCC):
            raise ValueError(f"AppearanceTracker runs OpenCV's KCF/CSRT/MIL, not {kind}; see make_appearance()")
        if search_scale < 1.5:
            raise ValueError(f"search_scale must be >= 1.5, got {search_scale}")
        self.kind = kind
        self.search_scale = search_scale
        if max_template_px < 16:
            raise ValueError(f"max_template_px must be >= 16, got {max_template_px}")
        self.max_template_px = max_template_px
        self._scale = 1.0
        self._impl: Any = None
        self._crop_origin = (0, 0, 0, 0)
        self.box: Box | None = None

    def _window(self, frame: np.ndarray, box: Box) -> tuple[int, int, int, int]:
        h, w = frame.shape[:2]
        side_w, side_h = box.w * self.search_scale, box.h * self.search_scale
        x0 = int(max(0, box.cx - side_w / 2))
        y0 = int(max(0, box.cy - side_h / 2))
        x1 = int(min(w, box.cx + side_w / 2))
        y1 = int(min(h, box.cy + side_h / 2))
        return x0, y0, x1, y1

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        if self._scale >= 1.0:
            return np.ascontiguousarray(crop)
        import cv2

        h, w = crop.shape[:2]
        size = (max(8, round(w * self._scale)), max(8, round(h * self._scale)))
        return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)

    def init(self, frame: np.ndarray, box: Box) -> bool:
        """Start following `box` in `frame`. Returns False when the box is unusable (off-frame)."""
        fh, fw = frame.shape[:2]
        b = box.clipped(fw, fh)
        if b.w < 8 or b.h < 8:
            self._impl = None
            self.box = None
            return False
        x0, y0, x1, y1 = self._window(frame, b)
        # Work at a scale where the template is at most max_template_px: the cost of KCF/CSRT grows with its area.
        self._scale = min(1.0, self.max_template_px / max(b.w, b.h))
        sc = self._scale
        self._impl = _create(self.kind)
        rect = (int((b.x - x0) * sc), int((b.y - y0) * sc), max(4, int(b.w * sc)), max(4, int(b.h * sc)))
        self._impl.init(self._prepare(frame[y0:y1, x0:x1]), rect)
        self._crop_origin = (x0, y0, x1, y1)
        self.box = b
        return True

    def update(self, frame: np.ndarray) -> Box | None:
        """The object's box in `frame`, or None when the tracker lost it.

        The crop window stays where `init` put it (so the template's coordinates
        stay valid); when the object nears the window's edge the template is
        re-initialised around its new position in this frame.
        """
        if self._impl is None or self.box is None:
            return None
        x0, y0, x1, y1 = self._crop_origin
        if y1 > frame.shape[0] or x1 > frame.shape[1]:
            return None
        ok, rect = self._impl.update(self._prepare(frame[y0:y1, x0:x1]))
        if not ok:
            self._impl = None
            return None
        x, y, w, h = (float(v) / self._scale for v in rect)
        self.box = Box(x + x0, y + y0, w, h)
        margin_x, margin_y = 0.25 * self.box.w, 0.25 * self.box.h
        near_edge = (
            (self.box.x - x0 < margin_x and x0 > 0)
            or (self.box.y - y0 < margin_y and y0 > 0)
            or (x1 - (self.box.x + self.box.w) < margin_x and x1 < frame.shape[1])
            or (y1 - (self.box.y + self.box.h) < margin_y and y1 < frame.shape[0])
        )
        if near_edge:
            self.init(frame, self.box)
        return self.box


class TemplateTracker:
    """Normalised cross-correlation of a grey template in a window around the last box."""

    __slots__ = ("_scale", "_template", "box", "kind", "max_template_px", "min_score", "search_scale", "update_rate")

    def __init__(
        self,
        search_scale: float = 2.5,
        max_template_px: int = 40,
        min_score: float = 0.5,
        update_rate: float = 0.3,
    ) -> None:
        if search_scale < 1.5:
            raise ValueError(f"search_scale must be >= 1.5, got {search_scale}")
        if max_template_px < 8:
            raise ValueError(f"max_template_px must be >= 8, got {max_template_px}")
        if not 0 <= update_rate <= 1:
            raise ValueError(f"update_rate must be in [0, 1], got {update_rate}")
        self.kind = AppearanceKind.NCC
        self.search_scale = search_scale
        self.max_template_px = max_template_px
        self.min_score = min_score
        self.update_rate = update_rate
        self._template: np.ndarray | None = None
        self._scale = 1.0
        self.box: Box | None = None

    def _grey(self, frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        import cv2

        crop = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        if self._scale < 1.0:
            w = max(1, round((x1 - x0) * self._scale))
            h = max(1, round((y1 - y0) * self._scale))
            crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        return crop.astype(np.float32)

    def init(self, frame: np.ndarray, box: Box) -> bool:
        fh, fw = frame.shape[:2]
        b = box.clipped(fw, fh)
        if b.w < 8 or b.h < 8:
            self._template = None
            self.box = None
            return False
        self._scale = min(1.0, self.max_template_px / max(b.w, b.h))
        x0, y0, w, h = b.as_ints()
        self._template = self._grey(frame, x0, y0, min(fw, x0 + w), min(fh, y0 + h))
        self.box = Box(x0, y0, w, h)
        return True

    def update(self, frame: np.ndarray) -> Box | None:
        import cv2

        if self._template is None or self.box is None:
            return None
        fh, fw = frame.shape[:2]
        b = self.box
        sw, sh = b.w * self.search_scale, b.h * self.search_scale
        x0, y0 = int(max(0, b.cx - sw / 2)), int(max(0, b.cy - sh / 2))
        x1, y1 = int(min(fw, b.cx + sw / 2)), int(min(fh, b.cy + sh / 2))
        window = self._grey(frame, x0, y0, x1, y1)
        th, tw = self._template.shape
        if window.shape[0] < th or window.shape[1] < tw:
            return None  # the object is at the frame's edge: let the detector find it again
        scores = cv2.matchTemplate(window, self._template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (mx, my) = cv2.minMaxLoc(scores)
        if best < self.min_score:
            return None
        self.box = Box(x0 + mx / self._scale, y0 + my / self._scale, b.w, b.h)
        patch = window[my : my + th, mx : mx + tw]
        self._template = (1 - self.update_rate) * self._template + self.update_rate * patch
        return self.box


def make_appearance(kind: AppearanceKind) -> AppearanceTracker | TemplateTracker:
    """An appearance tracker of `kind` (not NONE)."""
    if kind is AppearanceKind.NONE:
        raise ValueError("no appearance tracker for AppearanceKind.NONE")
    if kind is AppearanceKind.NCC:
        return TemplateTracker()
    return AppearanceTracker(kind)
