"""The tracker core (sans-I/O): detector + Kalman + Hungarian + appearance tracker.

    frame ──► (every k-th frame) detector ──► Hungarian on IoU with the Kalman
              │                               predictions (SORT) ──► update /
              │                               new tracks (stable ids)
              └─► (frames between) each track's template tracker (NCC/KCF/CSRT) ──► Kalman update
    ──► tracks not updated for `max_coast_s` die ──► `Track`s out

``feed(frame, captured_ns, detect_every=k)`` takes one frame and its capture
time and returns the live tracks as of that frame. ``k`` ("detect every k
frames") is the knob a node's `Mode` sets (ApproxDet): k = 1 runs the detector
on every frame, larger k runs the cheaper appearance tracker in between.

Time steps are taken from the capture times, so dropped frames (a latest-wins
edge drops what the tracker cannot keep up with) are handled by longer Kalman
steps.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.vision.appearance import AppearanceKind, AppearanceTracker, TemplateTracker, make_appearance
from liveloop.vision.association import associate, iou
from liveloop.vision.detect import Detector, make_detector
from liveloop.vision.kalman import BoxKalman, KalmanConfig
from liveloop.vision.types import BadFrame, Box, ChannelOrder, Detection, Track, TrackStatus, as_bgr


class OnResize(enum.Enum):
    RESET = "reset"  # drop all tracks and start again at the new size (WebRTC senders change resolution)
    ERROR = "error"  # raise BadFrame


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    detector: str = "blazeface"
    detector_kwargs: tuple[tuple[str, Any], ...] = ()
    detect_every: int = 1  # default k when feed() is not given one
    appearance: AppearanceKind = AppearanceKind.NCC
    iou_min: float = 0.2  # association gate
    max_center_dist: float = 1.5  # second association stage: centre distance in box sizes (0 disables)
    min_hits: int = 2  # measurements before a track is reported
    max_coast_s: float = 0.5  # a track with no measurement for this long is dropped
    max_tracks: int = 32
    channel_order: ChannelOrder = ChannelOrder.BGR  # of numpy frames (av.VideoFrame converts itself)
    on_resize: OnResize = OnResize.RESET
    cv_threads: int | None = 1  # OpenCV worker threads (None: leave OpenCV's default); 1 is fastest on 2 cores
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    appearance_noise_scale: float = 2.0  # appearance-tracker boxes are trusted less than detections

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0.0 < self.iou_min < 1.0:
            raise ValueError(f"iou_min must be in (0, 1), got {self.iou_min}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {self.min_hits}")
        if self.max_coast_s <= 0:
            raise ValueError(f"max_coast_s must be > 0, got {self.max_coast_s}")
        if self.max_tracks < 1:
            raise ValueError(f"max_tracks must be >= 1, got {self.max_tracks}")
        if self.cv_threads is not None and self.cv_threads < 0:
            raise ValueError(f"cv_threads must be None or >= 0, got {self.cv_threads}")


class _Track:
    __slots__ = ("app", "hits", "id", "kf", "label", "last_box", "last_update_ns", "misses", "score")

    def __init__(self, tid: int, det: Detection, now_ns: int, cfg: TrackerConfig) -> None:
        self.id = tid
        self.kf = BoxKalman(det.box, cfg.kalman)
        self.label = det.label
        self.score = det.score
        self.hits = 1
        self.misses = 0
        self.last_update_ns = now_ns
        self.last_box = det.box  # where it was last measured
        self.app: AppearanceTracker | TemplateTracker | None = None


@dataclass(slots=True)
class TrackerStats:
    frames: int = 0
    detector_runs: int = 0
    resets: int = 0
    tracks_started: int = 0


class TrackerCore:
    """SORT with an appearance tracker between detections. One instance per video stream."""

    def __init__(self, cfg: TrackerConfig | None = None, detector: Detector | None = None) -> None:
        self.cfg = cfg or TrackerConfig()
        if self.cfg.cv_threads is not None:
            import cv2

            cv2.setNumThreads(self.cfg.cv_threads)
        self.detector = detector or make_detector(self.cfg.detector, **dict(self.cfg.detector_kwargs))
        self.stats = TrackerStats()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._size: tuple[int, int] | None = None
        self._last_ns: int | None = None
        self._since_detect = 0
        self._k = self.cfg.detect_every

    def reset(self) -> None:
        """Forget all tracks (ids keep counting up, so an id is never reused)."""
        self._tracks.clear()
        self._size = None
        self._last_ns = None
        self._since_detect = 0

    def feed(self, frame: Any, captured_ns: int, detect_every: int | None = None) -> list[Track]:
        """Track one frame captured at `captured_ns`; returns the reported tracks."""
        k = self.cfg.detect_every if detect_every is None else detect_every
        if k < 1:
            raise ValueError(f"detect_every must be >= 1, got {k}")
        if k != self._k and self._since_detect % k != 0:
            self._since_detect = 0  # the knob changed: detect now, so every track gets a fresh template
        self._k = k
        bgr = as_bgr(frame, self.cfg.channel_order)
        size = (bgr.shape[1], bgr.shape[0])
        if self._size is not None and size != self._size:
            if self.cfg.on_resize is OnResize.ERROR:
                raise BadFrame(f"frame size changed from {self._size[0]}x{self._size[1]} to {size[0]}x{size[1]}")
            self.reset()
            self.stats.resets += 1
        self._size = size
        if self._last_ns is not None and captured_ns < self._last_ns:
            raise BadFrame(f"frame capture time went backwards ({captured_ns} < {self._last_ns} ns)")
        dt = 0.0 if self._last_ns is None else (captured_ns - self._last_ns) / 1e9
        self._last_ns = captured_ns
        self.stats.frames += 1
        for t in self._tracks:
            t.kf.predict(dt)
        updated: set[int] = set()
        run_detector = self._since_detect % k == 0 or not self._tracks
        if run_detector:
            self._since_detect = 0
            updated = self._detect_step(bgr, captured_ns)
        else:
            updated = self._appearance_step(bgr, captured_ns)
        self._since_detect += 1
        # Retire tracks that have coasted too long or left the frame.
        w, h = size
        keep = []
        for t in self._tracks:
            if t.id not in updated:
                t.misses += 1
            b = t.kf.box
            gone = b.x + b.w < 0 or b.y + b.h < 0 or b.x > w or b.y > h
            if (captured_ns - t.last_update_ns) / 1e9 <= self.cfg.max_coast_s and not gone:
                keep.append(t)
        self._tracks = keep
        return [self._report(t, captured_ns, t.id in updated) for t in self._tracks if t.hits >= self.cfg.min_hits]

    # -- steps -----------------------------------------------------------------
    def _detect_step(self, bgr: np.ndarray, now_ns: int) -> set[int]:
        dets = self.detector.detect(bgr)
        self.stats.detector_runs += 1
        tboxes = np.array([t.kf.box.as_array() for t in self._tracks]).reshape(-1, 4)
        dboxes = np.array([d.box.as_array() for d in dets]).reshape(-1, 4)
        a = associate(tboxes, dboxes, self.cfg.iou_min, self.cfg.max_center_dist)
        updated = set()
        matches = list(a.matches)
        unmatched = list(a.unmatched_detections)
        # A track that missed detections while turning coasts away on its old velocity; match what
        # is left against where such tracks were last measured, and restart their filters there.
        coasting = [ti for ti in a.unmatched_tracks if self._tracks[ti].misses > 0]
        if coasting and unmatched:
            last = np.array([self._tracks[ti].last_box.as_array() for ti in coasting])
            b = associate(last, dboxes[unmatched], self.cfg.iou_min, self.cfg.max_center_dist)
            for ci, uj in b.matches:
                t = self._tracks[coasting[ci]]
                t.kf = BoxKalman(dets[unmatched[uj]].box, self.cfg.kalman)
                matches.append((coasting[ci], unmatched[uj]))
            taken = {unmatched[uj] for _, uj in b.matches}
            unmatched = [j for j in unmatched if j not in taken]
        for ti, di in matches:
            t, d = self._tracks[ti], dets[di]
            t.kf.update(d.box)
            t.hits += 1
            t.misses = 0
            t.score = d.score
            t.last_update_ns = now_ns
            t.last_box = d.box
            self._start_appearance(t, bgr, d.box)
            updated.add(t.id)
        for di in sorted(unmatched, key=lambda j: -dets[j].score):
            if len(self._tracks) >= self.cfg.max_tracks:
                break
            t = _Track(self._next_id, dets[di], now_ns, self.cfg)
            self._next_id += 1
            self.stats.tracks_started += 1
            self._start_appearance(t, bgr, dets[di].box)
            self._tracks.append(t)
            updated.add(t.id)
        return updated

    def _start_appearance(self, t: _Track, bgr: np.ndarray, box: Box) -> None:
        # With k = 1 the template would never be used: skip its cost (it is started when k rises).
        if self.cfg.appearance is AppearanceKind.NONE or self._k == 1:
            t.app = None
            return
        if t.app is None:
            t.app = make_appearance(self.cfg.appearance)
        t.app.init(bgr, box)

    def _appearance_step(self, bgr: np.ndarray, now_ns: int) -> set[int]:
        updated = set()
        for t in self._tracks:
            if t.app is None:
                continue
            box = t.app.update(bgr)
            if box is None:
                t.app = None
                continue
            # Gate: an appearance box that jumped away from the motion model is a drift, not a measurement.
            if float(iou(box.as_array(), t.kf.box.as_array())[0]) < 0.05:
                continue
            t.kf.update(box, noise_scale=self.cfg.appearance_noise_scale)
            t.last_box = box
            t.hits += 1
            t.last_update_ns = now_ns
            updated.add(t.id)
        return updated

    def _report(self, t: _Track, captured_ns: int, updated: bool) -> Track:
        status = TrackStatus.CONFIRMED if updated else TrackStatus.COASTING
        return Track(
            track_id=t.id,
            box=t.kf.box,
            label=t.label,
            score=t.score,
            status=status,
            captured_ns=captured_ns,
            velocity=t.kf.velocity,
            hits=t.hits,
            frames_since_update=t.misses,
        )

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the frames this stream carries (None before the first good frame)."""
        return self._size

    @property
    def live_track_count(self) -> int:
        return len(self._tracks)
