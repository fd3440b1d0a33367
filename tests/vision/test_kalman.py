from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.kalman import BoxKalman, KalmanConfig
from liveloop.vision.types import Box


def _run(velocity: tuple[float, float], dts: list[float], noise: float = 0.0, seed: int = 0) -> BoxKalman:
    rng = np.random.default_rng(seed)
    t = 0.0
    kf = BoxKalman(Box.from_center(100, 100, 40, 40))
    for dt in dts:
        t += dt
        kf.predict(dt)
        cx, cy = 100 + velocity[0] * t, 100 + velocity[1] * t
        kf.update(Box.from_center(cx + rng.normal(0, noise), cy + rng.normal(0, noise), 40, 40))
    return kf


def test_constant_velocity_is_learned_from_positions() -> None:
    kf = _run((120.0, -60.0), [1 / 30] * 60)
    vx, vy = kf.velocity
    assert vx == pytest.approx(120.0, rel=0.05) and vy == pytest.approx(-60.0, rel=0.05)
    # extrapolation 0.5 s ahead lands where the object will be
    box, sigma = kf.peek(0.5)
    t_end = 60 / 30
    assert box.cx == pytest.approx(100 + 120 * (t_end + 0.5), abs=3)
    assert box.cy == pytest.approx(100 - 60 * (t_end + 0.5), abs=3)
    assert sigma > 0


def test_irregular_steps_give_the_same_velocity() -> None:
    rng = np.random.default_rng(1)
    dts = list(rng.choice([1 / 30, 2 / 30, 4 / 30], size=40))  # frames dropped by a latest-wins edge
    vx, _ = _run((90.0, 0.0), dts).velocity
    assert vx == pytest.approx(90.0, rel=0.05)


def test_noise_is_smoothed() -> None:
    rng = np.random.default_rng(3)
    kf = BoxKalman(Box.from_center(100, 100, 40, 40))
    meas_err, filt_err = [], []
    for k in range(1, 120):
        t = k / 30
        truth = 100 + 60 * t
        z = truth + rng.normal(0, 4.0)
        kf.predict(1 / 30)
        kf.update(Box.from_center(z, 100, 40, 40))
        if k > 30:  # after the filter has settled
            meas_err.append(z - truth)
            filt_err.append(kf.box.cx - truth)
    assert np.sqrt(np.mean(np.square(filt_err))) < 0.8 * np.sqrt(np.mean(np.square(meas_err)))


def test_uncertainty_grows_with_horizon_and_peek_does_not_mutate() -> None:
    kf = _run((50.0, 0.0), [1 / 30] * 30)
    x_before = kf.x.copy()
    _, sig = kf.forecast(np.array([0.0, 0.1, 0.5, 1.0]))
    assert np.all(np.diff(sig) > 0)
    np.testing.assert_array_equal(kf.x, x_before)


def test_bad_config_and_negative_step_are_rejected() -> None:
    with pytest.raises(ValueError, match="q_pos"):
        KalmanConfig(q_pos=0)
    with pytest.raises(ValueError, match="dt"):
        BoxKalman(Box(0, 0, 10, 10)).predict(-0.1)


def test_forecast_sigma_is_forecasts_sigma() -> None:
    kf = _run((90.0, -30.0), [1 / 30] * 12)
    dts = np.array([0.0, 0.05, 0.3, 1.0])
    _, sig = kf.forecast(dts)
    np.testing.assert_allclose(kf.forecast_sigma(dts), sig, rtol=1e-12)
