"""The latency-aware predictor on scripted motion (no tracker, no event loop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveloop.vision.predictor import PredictMethod, PredictorConfig, PredictorCore
from liveloop.vision.types import Box, ModelMissing, Track, TrackStatus

NS = 1_000_000_000
FPS = 30


def _track(
    tid: int,
    cx: float,
    cy: float,
    t_ns: int,
    size: float = 60.0,
    velocity: tuple[float, float] | None = None,
    status: TrackStatus = TrackStatus.CONFIRMED,
) -> Track:
    return Track(tid, Box.from_center(cx, cy, size, size), "face", 0.9, status, t_ns, velocity)


def _linear(t_s: float) -> tuple[float, float]:
    return 100 + 150 * t_s, 200 - 60 * t_s  # px/s


def _circle(t_s: float) -> tuple[float, float]:
    return 320 + 120 * np.cos(2.5 * t_s), 240 + 120 * np.sin(2.5 * t_s)


def _errors(method: PredictMethod, path, latency_s: float, frames: int = 45) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    core = PredictorCore(PredictorConfig(method=method))
    errs = []
    out = []
    for i in range(frames):
        t_cap = i / FPS
        now = t_cap + 0.010  # the tracker took 10 ms
        out = core.feed([_track(1, *path(t_cap), round(t_cap * NS))], round(now * NS), round(latency_s * NS))
        if i >= 25:  # after 0.8 s of history
            truth = path(now + latency_s)
            errs.append(np.hypot(out[0].box.cx - truth[0], out[0].box.cy - truth[1]))
    return float(np.mean(errs)), out


@pytest.mark.parametrize("method", [PredictMethod.KALMAN, PredictMethod.LEARNED])
def test_linear_motion_is_predicted_to_the_valid_time(method: PredictMethod) -> None:
    raw, _ = _errors(PredictMethod.NONE, _linear, latency_s=0.1)
    err, out = _errors(method, _linear, latency_s=0.1)
    assert raw == pytest.approx(np.hypot(150, 60) * 0.11, rel=0.01)  # NONE is 110 ms behind
    assert err < 0.15 * raw
    p = out[0]
    assert p.method == method.value
    assert p.valid_at_ns == round((44 / FPS + 0.010 + 0.1) * NS)


@pytest.mark.parametrize(("method", "share"), [(PredictMethod.KALMAN, 0.3), (PredictMethod.LEARNED, 0.5)])
def test_turning_motion_beats_holding_the_box(method: PredictMethod, share: float) -> None:
    # 300 px/s on a 120 px circle, tracks without a velocity: the predictor's own (face-tuned) Kalman
    # filter follows the turn; the learned model builds on a 0.3 s least-squares velocity that lags it,
    # and its correction is kept small (TrainConfig.residual_l2), so it only halves the error
    raw, _ = _errors(PredictMethod.NONE, _circle, latency_s=0.066)
    err, _ = _errors(method, _circle, latency_s=0.066)
    assert err < share * raw


@pytest.mark.parametrize("method", [PredictMethod.KALMAN, PredictMethod.LEARNED])
def test_turning_motion_with_the_trackers_velocity(method: PredictMethod) -> None:
    # liveloop's tracker reports its filter's velocity: both methods build on it and follow the turn
    def velocity(t_s: float) -> tuple[float, float]:
        return -300 * np.sin(2.5 * t_s), 300 * np.cos(2.5 * t_s)

    def run(m: PredictMethod) -> float:
        core = PredictorCore(PredictorConfig(method=m))
        errs = []
        for i in range(45):
            t_cap = i / FPS
            now = t_cap + 0.010
            tr = _track(1, *_circle(t_cap), round(t_cap * NS), velocity=velocity(t_cap))
            out = core.feed([tr], round(now * NS), round(0.066 * NS))
            if i >= 25:
                truth = _circle(now + 0.066)
                errs.append(np.hypot(out[0].box.cx - truth[0], out[0].box.cy - truth[1]))
        return float(np.mean(errs))

    assert run(method) < 0.15 * run(PredictMethod.NONE)


def test_forecast_is_ten_points_at_ten_hz_with_growing_uncertainty() -> None:
    _, out = _errors(PredictMethod.LEARNED, _linear, latency_s=0.05)
    p = out[0]
    fc = p.forecast
    assert fc.xy.shape == (10, 2) and fc.sigma.shape == (10,)
    np.testing.assert_array_equal(np.diff(fc.t_ns), [NS // 10] * 9)
    assert fc.t_ns[0] == p.valid_at_ns + NS // 10
    assert np.all(np.diff(fc.sigma) > 0) and p.sigma_px < fc.sigma[0]
    t_end = (fc.t_ns[-1]) / NS
    truth = _linear(t_end)
    assert np.hypot(fc.xy[-1, 0] - truth[0], fc.xy[-1, 1] - truth[1]) < 3 * fc.sigma[-1]
    js = p.to_json()
    assert len(js["trajectory"]) == 10 and js["id"] == 1 and js["method"] == "learned"


def test_none_method_holds_the_box_still() -> None:
    core = PredictorCore(PredictorConfig(method=PredictMethod.NONE))
    out = core.feed([_track(7, 50, 60, 0)], 5 * NS // 1000, 20 * NS // 1000)
    assert out[0].box == Box.from_center(50, 60, 60, 60)
    np.testing.assert_allclose(out[0].forecast.xy, [[50, 60]] * 10)


def test_many_tracks_and_history_forgetting() -> None:
    core = PredictorCore(PredictorConfig(method=PredictMethod.LEARNED, forget_after_s=0.5))
    for i in range(10):
        t = i * NS // FPS
        out = core.feed([_track(1, 100 + 3 * i, 100, t), _track(2, 300, 100 + 2 * i, t)], t)
        assert [p.track_id for p in out] == [1, 2]
    assert core.tracked_ids == [1, 2]
    core.feed([_track(2, 300, 150, NS)], NS)
    assert core.tracked_ids == [2]  # track 1 unseen for > 0.5 s
    assert core.feed([], 2 * NS) == []


def test_repeated_frame_is_not_counted_twice() -> None:
    core = PredictorCore(PredictorConfig(method=PredictMethod.LEARNED))
    tr = _track(1, 100, 100, 0)
    core.feed([tr], 0)
    core.feed([tr], NS // 100)
    assert len(core._states[1].hist) == 1


def test_bad_config_and_missing_weights() -> None:
    with pytest.raises(ValueError, match="horizon_s"):
        PredictorConfig(horizon_s=0)
    with pytest.raises(ValueError, match="rate_hz"):
        PredictorConfig(rate_hz=-1)
    with pytest.raises(ValueError, match="latency_ns"):
        PredictorCore(PredictorConfig(method=PredictMethod.NONE)).feed([], 0, -1)
    with pytest.raises(ModelMissing, match="train-predictor"):
        PredictorCore(PredictorConfig(weights=Path("/nonexistent/predictor.npz")))


@pytest.mark.parametrize("method", [PredictMethod.NONE, PredictMethod.KALMAN, PredictMethod.LEARNED])
def test_boxes_at_gives_the_box_for_each_time_it_is_used(method: PredictMethod) -> None:
    # e-LAE and an overlay ask for the box at the times they use it: one query, many times
    core = PredictorCore(PredictorConfig(method=method))
    tracks: list[Track] = []
    for i in range(30):
        t = i * NS // FPS
        tracks = [_track(1, *_linear(i / FPS), t), _track(2, 400, 100, t, size=40)]
        out = core.feed(tracks, t + NS // 100, 0)
    when = tracks[0].captured_ns + np.array([0, NS // FPS, 2 * NS // FPS])
    boxes = core.boxes_at(tracks, when)
    assert boxes.shape == (2, 3, 4)
    np.testing.assert_allclose(boxes[:, :, 2:], [[[60, 60]] * 3, [[40, 40]] * 3])  # the observed size
    np.testing.assert_allclose(boxes[:, 0], [tr.box.as_array() for tr in tracks])  # τ = 0: the observed box
    np.testing.assert_allclose(boxes[1, :, :2], [[380, 80]] * 3, atol=0.5)  # the still one stays
    truth = np.array([_linear(t / NS) for t in when])
    centres = boxes[0, :, :2] + 30
    if method is PredictMethod.NONE:
        np.testing.assert_allclose(centres, [truth[0]] * 3)
    else:
        np.testing.assert_allclose(centres, truth, atol=0.5)
    # feed's box at valid_at is boxes_at at valid_at
    p = out[0]
    np.testing.assert_allclose(core.boxes_at(tracks[:1], np.array([p.valid_at_ns]))[0, 0], p.box.as_array())
    assert core.boxes_at([], when).shape == (0, 3, 4)


def test_kalman_extrapolates_the_velocity_the_tracker_gives() -> None:
    # The boxes stand still but the producer says 120 px/s: the tracker's filter saw detections the
    # boxes do not show (it reports its filtered box); the predictor trusts that velocity.
    core = PredictorCore(PredictorConfig(method=PredictMethod.KALMAN))
    for i in range(10):
        t = i * NS // FPS
        out = core.feed([_track(1, 100, 100, t, velocity=(120.0, 0.0))], t, NS // 10)
    assert out[0].box.cx == pytest.approx(100 + 120 * 0.1)
    # no velocity given: the predictor's own filter over the (still) boxes
    core = PredictorCore(PredictorConfig(method=PredictMethod.KALMAN))
    for i in range(10):
        t = i * NS // FPS
        out = core.feed([_track(1, 100, 100, t)], t, NS // 10)
    assert out[0].box.cx == pytest.approx(100, abs=0.5)


def _measured_then_coasting(coast_box_at, n_measured: int = 24, n_coast: int = 6):  # type: ignore[no-untyped-def]
    """A face moving at (150, -60) px/s, measured for `n_measured` frames (with the tracker's velocity), then
    lost: `n_coast` coasting reports whose box `coast_box_at(k)` (k = frames since the last measurement) gives."""
    tracks = []
    for i in range(n_measured + n_coast):
        t_ns = i * NS // FPS
        if i < n_measured:
            tracks.append(_track(1, *_linear(i / FPS), t_ns, velocity=(150.0, -60.0)))
        else:
            cx, cy = coast_box_at(i - n_measured + 1)
            tracks.append(_track(1, cx, cy, t_ns, velocity=(150.0, -60.0), status=TrackStatus.COASTING))
    return tracks


def test_coasting_boxes_are_not_measurements() -> None:
    core = PredictorCore(PredictorConfig(method=PredictMethod.LEARNED))
    for tr in _measured_then_coasting(lambda k: (0.0, 0.0)):
        core.observe([tr])
    st = core._states[1]
    assert len(st.hist) == 24  # the six coasting reports added nothing
    assert st.last_measured_ns == 23 * NS // FPS and st.last_ns == 29 * NS // FPS
    # a track first seen coasting still has something to extrapolate from
    core.observe([_track(2, 10, 10, 0, status=TrackStatus.COASTING)])
    assert len(core._states[2].hist) == 1


def test_a_coasting_track_is_predicted_from_its_last_measurement() -> None:
    # Whatever box the tracker made up while it had no measurement (held still, or drifted off), the
    # learned predictor extrapolates from the last measurement, over the time since then, to where the
    # object is: (150, -60) px/s for 6 frames, 32 px on.
    boxes = []
    for coast_box_at in (lambda k: _linear(23 / FPS), lambda k: (500.0 + 30 * k, 50.0)):
        core = PredictorCore(PredictorConfig(method=PredictMethod.LEARNED))
        tracks = _measured_then_coasting(coast_box_at)
        for tr in tracks:
            core.observe([tr])
        when = tracks[-1].captured_ns + np.array([0, NS // FPS])
        boxes.append(core.boxes_at(tracks[-1:], when)[0])
    np.testing.assert_allclose(boxes[0], boxes[1])  # the coasting box plays no part
    truth = np.array([_linear(t / NS) for t in when])
    err = np.hypot(*(boxes[0][:, :2] + 30 - truth).T)
    assert np.all(err < 3.0)
    # the Kalman method extrapolates the box it is given (the tracker's coast, here held still)
    core = PredictorCore(PredictorConfig(method=PredictMethod.KALMAN))
    tracks = _measured_then_coasting(lambda k: _linear(23 / FPS))
    for tr in tracks:
        core.observe([tr])
    held = core.boxes_at(tracks[-1:], when)[0]
    assert np.all(np.hypot(*(held[:, :2] + 30 - truth).T) > 25)


def test_the_learned_predictor_is_told_how_old_the_last_measurement_is() -> None:
    core = PredictorCore(PredictorConfig(method=PredictMethod.LEARNED))
    tracks = _measured_then_coasting(lambda k: (0.0, 0.0), n_coast=3)
    for tr in tracks:
        core.observe([tr])
    st = core._states[1]
    assert core.mlp is not None
    age = 3 / FPS
    taus = np.array([[0.0, 0.1]])  # after the coasting report's capture
    xy, _ = core.mlp.predict([st.features()], taus + age, np.array([age]))
    boxes = core.boxes_at(tracks[-1:], tracks[-1].captured_ns + np.round(taus[0] * NS).astype(np.int64))
    np.testing.assert_allclose(boxes[0, :, :2] + 30, xy[0], atol=1e-6)
