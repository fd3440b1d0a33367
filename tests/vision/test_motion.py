from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.motion import GRID_DT_S, HISTORY, N_FEATURES, MotionMLP, history_features


def _hist(n: int, v=(30.0, 0.0), size=50.0, origin=(0.0, 0.0), dt=1 / 30) -> np.ndarray:  # type: ignore[no-untyped-def]
    t = np.arange(n) * dt
    return np.stack([t, origin[0] + v[0] * t, origin[1] + v[1] * t, np.full(n, size), np.full(n, size)], axis=1)


def test_relative_motion_normalisation_is_translation_and_scale_invariant() -> None:
    a = history_features(_hist(30, v=(30, 10), size=50))
    b = history_features(_hist(30, v=(60, 20), size=100, origin=(400, 300)))  # twice as big and fast, elsewhere
    np.testing.assert_allclose(a.x, b.x, atol=1e-9)
    np.testing.assert_allclose(a.v_ls, b.v_ls, atol=1e-9)
    np.testing.assert_allclose(a.v_ls, [30 / 50, 10 / 50], rtol=1e-6)  # box sizes per second
    assert a.x.shape == (N_FEATURES - 2,)  # the model adds the age and τ


def test_short_history_is_masked() -> None:
    f = history_features(_hist(3))  # 2 frames = 67 ms < the 0.75 s grid
    mask = f.x[2 * (HISTORY - 1) : 3 * (HISTORY - 1)]
    n_valid = round(2 / 30 / GRID_DT_S)
    assert mask.sum() == n_valid  # grid points after the first observation (the newest is implicit)
    single = history_features(_hist(1))
    np.testing.assert_array_equal(single.v_ls, [0, 0])


def test_a_given_velocity_is_the_base_and_is_flagged() -> None:
    h = _hist(30, v=(30, 10), size=50)
    fitted = history_features(h)
    given = history_features(h, velocity_px_s=(60.0, -20.0))
    np.testing.assert_allclose(fitted.v_base, fitted.v_ls)  # none given: the least-squares fit
    assert fitted.x[-1] == 0.0
    np.testing.assert_allclose(given.v_base, [60 / 50, -20 / 50])  # box sizes per second, like the fit
    np.testing.assert_allclose(given.v_ls, fitted.v_ls)
    assert given.x[-1] == 1.0
    np.testing.assert_allclose(given.x[-3:-1], given.v_base)
    # the same motion twice as big and fast looks the same, the given velocity too
    big = history_features(_hist(30, v=(60, 20), size=100, origin=(400, 300)), velocity_px_s=(120.0, -40.0))
    np.testing.assert_allclose(big.x, given.x, atol=1e-9)


def test_malformed_history_is_rejected() -> None:
    with pytest.raises(ValueError, match="history"):
        history_features(np.zeros((0, 5)))
    with pytest.raises(ValueError, match="history"):
        history_features(np.zeros((4, 3)))


def test_shipped_weights_load_and_predict_in_pixels() -> None:
    mlp = MotionMLP()
    assert mlp.meta["meta_history"] == HISTORY
    f = history_features(_hist(30, v=(90, 0), size=60, origin=(100, 100)))
    xy, sig = mlp.predict([f], np.array([[0.0, 0.5, 1.0]]))
    assert xy.shape == (1, 3, 2) and sig.shape == (1, 3)
    assert xy[0, 0, 0] == pytest.approx(100 + 90 * 29 / 30, abs=5)  # τ = 0: where it is now
    assert xy[0, 2, 0] == pytest.approx(100 + 90 * (29 / 30 + 1.0), abs=25)  # 1 s on at 90 px/s
    assert sig[0, 0] < sig[0, 1] < sig[0, 2]


def test_fast_forward_pass_equals_the_plain_one() -> None:
    mlp = MotionMLP()
    feats = [history_features(_hist(n, v=(40.0 * n, -20.0), size=40 + n)) for n in (1, 5, 30)]
    feats[1] = history_features(_hist(5, v=(200.0, -20.0), size=45), velocity_px_s=(190.0, -25.0))
    taus = np.array([[0.0, 0.1, 1.0], [0.02, 0.5, 1.2], [0.3, 0.6, 0.9]])
    for a, b in zip(mlp.predict(feats, taus), mlp.predict_reference(feats, taus), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)  # px: predict runs in float32


def test_fast_forward_pass_equals_the_plain_one_with_ages() -> None:
    mlp = MotionMLP()
    feats = [history_features(_hist(n, v=(40.0 * n, -20.0), size=40 + n)) for n in (5, 30)]
    taus = np.array([[0.1, 0.2, 1.0], [0.3, 0.6, 0.9]])
    ages = np.array([0.1, 0.3])
    fast = mlp.predict(feats, taus, ages)
    for a, b in zip(fast, mlp.predict_reference(feats, taus, ages), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    assert not np.allclose(fast[1], mlp.predict(feats, taus)[1])  # the age is an input (σ grows with it)
