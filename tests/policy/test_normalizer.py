from __future__ import annotations

import numpy as np
import pytest
import torch

from liveloop.policy.normalizer import LinearNormalizer


def test_round_trip_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 1.0]
    norm = LinearNormalizer.fit(data)
    y = norm.normalize(data)
    assert np.allclose(y.min(axis=0), -1) and np.allclose(y.max(axis=0), 1)
    assert np.allclose(norm.unnormalize(y), data)
    t = torch.as_tensor(data, dtype=torch.float64)
    assert torch.allclose(norm.unnormalize(norm.normalize(t)), t)


def test_discrete_dims_are_scaled_and_keep_their_sign() -> None:
    acts = np.array([[0.0, -1.0], [1.0, 1.0], [0.5, -1.0]])
    norm = LinearNormalizer.fit(acts, discrete_dims=(1,), discrete_scale=0.1)
    y = norm.normalize(acts)
    assert np.allclose(y[:, 1], [-0.1, 0.1, -0.1])  # "gripper / 10"
    assert np.allclose(y[:, 0], [-1.0, 1.0, 0.0])
    assert np.allclose(norm.unnormalize(y), acts)


def test_constant_dimension_round_trips() -> None:
    data = np.array([[1.0, 7.0], [2.0, 7.0]])
    norm = LinearNormalizer.fit(data)
    assert np.allclose(norm.normalize(data)[:, 1], 0.0)
    assert np.allclose(norm.unnormalize(norm.normalize(data)), data)


def test_state_dict_round_trip() -> None:
    norm = LinearNormalizer.fit(np.array([[0.0, -1.0], [2.0, 1.0]]), discrete_dims=(1,), discrete_scale=0.1)
    again = LinearNormalizer.from_state_dict(norm.state_dict())
    x = np.array([[1.0, 1.0]])
    assert np.allclose(again.normalize(x), norm.normalize(x))


def test_bad_input_is_named() -> None:
    norm = LinearNormalizer.fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="last dimension 2"):
        norm.normalize(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="no data"):
        LinearNormalizer.fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="discrete dim 4"):
        LinearNormalizer.fit(np.zeros((3, 2)), discrete_dims=(4,))
    with pytest.raises(ValueError, match="discrete_scale"):
        LinearNormalizer.fit(np.zeros((3, 2)), discrete_scale=0.0)
    with pytest.raises(ValueError, match="missing"):
        LinearNormalizer.from_state_dict({"lo": [0.0]})
