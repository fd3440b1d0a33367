from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveloop.vision.motion import MAX_AGE_S, N_FEATURES, MotionMLP
from liveloop.vision.train import (
    TUD_HELD_OUT_IDS,
    TrainConfig,
    _occlude,
    _samples_from,
    _through_tracker,
    load_tud_tracks,
    synthetic_track,
    train,
)


def test_tud_tracks_load_from_the_pypi_asset() -> None:
    tracks = load_tud_tracks()
    assert sorted(tracks) == list(range(1, 11))
    assert len(tracks[3]) == 179 and tracks[3].shape[1] == 5
    assert set(TUD_HELD_OUT_IDS) <= set(tracks)
    assert np.all(np.diff(tracks[3][:, 0]) == pytest.approx(1 / 25))


def test_synthetic_tracks_are_smooth_and_reproducible() -> None:
    a = synthetic_track(np.random.default_rng(5))
    b = synthetic_track(np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    step = np.hypot(*np.diff(a[:, 1:3], axis=0).T)
    assert step.max() < 0.5 * a[0, 3] + 1  # never more than half a box per frame


def test_a_tiny_training_run_writes_loadable_weights(tmp_path: Path) -> None:
    out = train(TrainConfig(n_synthetic_tracks=40, samples_per_track=8, tud_repeats=1, epochs=2), tmp_path / "w.npz",
                progress=False)  # fmt: skip
    mlp = MotionMLP(out)
    assert mlp.layers[0][0].shape == (N_FEATURES, 96)
    assert mlp.meta["meta_epochs"] == 2


def test_tracked_histories_are_what_the_tracker_reports() -> None:
    # 90 px/s right, detections with 2 px noise: the tracker's filter smooths the boxes, and its
    # velocity (what Track.velocity carries) is better than differencing the detections
    rng = np.random.default_rng(0)
    t = np.arange(60) / 30
    obs = np.stack([t, 100 + 90 * t + rng.normal(0, 2, 60), np.full(60, 50.0), np.full(60, 40.0), np.full(60, 40.0)], 1)
    rows, vel, measured = _through_tracker(obs, rng, miss_p=0.0)
    assert measured.all()
    assert rows.shape == obs.shape and vel.shape == (60, 2)
    np.testing.assert_array_equal(rows[:, 0], t)
    finite_diff = np.diff(obs[:, 1]) * 30
    assert np.abs(vel[30:, 0] - 90).mean() < 0.5 * np.abs(finite_diff[29:] - 90).mean()
    assert np.abs(rows[30:, 1] - (100 + 90 * t[30:])).mean() < np.abs(obs[30:, 1] - (100 + 90 * t[30:])).mean()


def test_bad_training_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="motion_mix"):
        TrainConfig(motion_mix=(0.5, 0.5))
    with pytest.raises(ValueError, match="residual_l2"):
        TrainConfig(residual_l2=-1)
    with pytest.raises(ValueError, match="tracked_share"):
        TrainConfig(tracked_share=1.5)
    with pytest.raises(ValueError, match="occlusion_share"):
        TrainConfig(occlusion_share=-0.1)
    with pytest.raises(ValueError, match="entry_lag"):
        TrainConfig(entry_lag=0.5)


def _straight(n: int = 60, v: float = 120.0) -> np.ndarray:
    t = np.arange(n) / 30
    return np.stack([t, 100 + v * t, np.full(n, 50.0), np.full(n, 40.0), np.full(n, 40.0)], 1)


def test_occlusions_hide_the_object_and_its_entry_lags_behind() -> None:
    truth = _straight()
    rng = np.random.default_rng(3)
    obs, detected = _occlude(truth, truth, rng, n_events=1, max_s=0.5, entry_lag=0.2)
    hidden = np.nonzero(~detected)[0]
    assert 1 <= len(hidden) <= 15 and np.all(np.diff(hidden) == 1)  # one gap of at most 0.5 s
    assert detected[-1]
    lag = obs[:, 1] - truth[:, 1]  # moving right: a lagging centre is to the left
    before = lag[: hidden[0]]
    assert np.all(before <= 0) and before[-1] < 0  # the last detection before the gap lags most
    assert np.argmin(before) == hidden[0] - 1 and before[-1] >= -0.2 * 40
    np.testing.assert_array_equal(lag[hidden[-1] + 1 :], 0)  # after it, as it was
    _, _, measured = _through_tracker(obs, rng, miss_p=0.0, detected=detected)
    np.testing.assert_array_equal(measured, detected)


def test_coasting_samples_start_from_the_last_measurement() -> None:
    truth = _straight()
    measured = np.ones(len(truth), dtype=bool)
    measured[30:40] = False  # a third of a second unseen
    vel = np.tile([120.0, 0.0], (len(truth), 1))
    xs, ys = _samples_from(truth, truth, np.random.default_rng(0), 400, max_tau_s=1.3, vel=vel, measured=measured)
    X, Y = np.array(xs), np.array(ys)
    age, tau = X[:, N_FEATURES - 2], X[:, N_FEATURES - 1]
    assert np.all(tau >= age - 1e-12) and age.max() <= MAX_AGE_S
    coasting = age > 0
    assert coasting.any() and np.all(age[coasting] <= 10 / 30 + 1e-9)
    # the target is the displacement from the last measurement: straight motion, 120 px/s = 3 box sizes/s
    np.testing.assert_allclose(Y[:, 0], 3.0 * tau, atol=1e-6)
