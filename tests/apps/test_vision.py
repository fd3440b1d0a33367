"""The session's vision pipeline: boxes are predicted to when they will be used."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.apps.vision import UseTime, VisionConfig, VisionPipeline

NS_PER_MS = 1_000_000
GREEN = (0, 200, 0)  # BGR: inside ColorMarkerDetector's default hue range


class StepClock:
    """Each reading is `step_ns` later than the one before: every stage of feed() 'takes' step_ns."""

    def __init__(self, step_ns: int) -> None:
        self.t = 0
        self.step_ns = step_ns

    def now_ns(self) -> int:
        self.t += self.step_ns
        return self.t

    async def sleep_until(self, deadline_ns: int) -> None:  # pragma: no cover - not used by the pipeline
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:  # pragma: no cover
        raise NotImplementedError


def _frame(cx: float, size: int = 40) -> np.ndarray:
    img = np.full((240, 320, 3), 30, np.uint8)
    x0, y0 = round(cx - size / 2), 100
    img[y0 : y0 + size, x0 : x0 + size] = GREEN
    return img


def test_use_time_is_the_tail_plus_half_the_interval_between_outputs() -> None:
    u = UseTime(max_hold_ns=500 * NS_PER_MS, alpha=1.0)
    assert u.latency_ns() == 0  # nothing measured yet
    u.observe(tail_ns=2 * NS_PER_MS, out_ns=0)
    assert u.latency_ns() == 2 * NS_PER_MS  # no interval yet
    u.observe(tail_ns=1 * NS_PER_MS, out_ns=66 * NS_PER_MS)
    assert u.latency_ns() == (1 + 33) * NS_PER_MS
    assert u.latency_ns(path_ns=20 * NS_PER_MS) == (20 + 33) * NS_PER_MS  # the caller measured the path
    u.observe(tail_ns=1 * NS_PER_MS, out_ns=66 * NS_PER_MS + 10_000 * NS_PER_MS)  # a stalled camera
    assert u.latency_ns() == (1 + 250) * NS_PER_MS  # the hold is capped at max_hold
    with pytest.raises(ValueError, match="max_hold_ns"):
        UseTime(0)
    with pytest.raises(ValueError, match="alpha"):
        UseTime(1, alpha=0)


def test_boxes_are_predicted_past_the_tracker_and_the_consumers_wait() -> None:
    # A marker moving 150 px/s right, camera at 30 fps, the session's loop at 15 fps (every other frame);
    # the session hands each frame over 2 ms after capture and every stage of feed() takes 4 ms.
    pipe = VisionPipeline(VisionConfig(detector="color_marker", detect_every=1), clock=StepClock(4 * NS_PER_MS))
    v_px_s = 150.0
    seen = None
    for i in range(0, 40, 2):
        cap = round(i / 30 * 1e9)
        latency_before = pipe.use_time.latency_ns()
        seen = pipe.feed(_frame(40 + v_px_s * i / 30), cap, cap + 2 * NS_PER_MS)
        out_ns = cap + 2 * NS_PER_MS + 4 * NS_PER_MS  # handed over + the tracker's 4 ms
        assert seen.valid_at_ns == out_ns + latency_before
    assert seen is not None and len(seen.tracks) == 1
    # measured: the 4 ms tail after the predictor plus half the 66.7 ms between outputs
    assert pipe.use_time.latency_ns() == pytest.approx((4 + 1000 / 30) * NS_PER_MS, rel=0.01)
    p = seen.tracks[0]
    ahead_s = (seen.valid_at_ns - p.track.captured_ns) / 1e9
    assert ahead_s == pytest.approx((2 + 4 + 4 + 1000 / 30) / 1000, rel=0.01)
    assert p.box.cx - p.track.box.cx == pytest.approx(v_px_s * ahead_s, rel=0.2)  # moved to where it will be
    tracks_event = seen.events[0]
    assert tracks_event["type"] == "tracks" and tracks_event["age_ms"] == pytest.approx(6.0)
    # a caller that measured the path to its consumers passes it; it replaces the measured tail
    cap = round(40 / 30 * 1e9)
    hold = pipe.use_time.latency_ns(0)
    seen = pipe.feed(_frame(40 + v_px_s * 40 / 30), cap, cap + 2 * NS_PER_MS, latency_ns=15 * NS_PER_MS)
    assert seen.valid_at_ns == cap + 6 * NS_PER_MS + 15 * NS_PER_MS + hold


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_hold_s"):
        VisionConfig(max_hold_s=0)
    with pytest.raises(ValueError, match="detect_every"):
        VisionConfig(detect_every=0)
