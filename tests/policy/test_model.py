"""Checkpoints: save, load by path and by name, the shipped one, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from liveloop.policy import model as model_mod
from liveloop.policy.model import CheckpointError, DiffusionPolicy, PolicyConfig, RtiSettings
from liveloop.policy.unet import ConditionalUnet1D

from .conftest import make_tiny_policy


def test_save_load_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = make_tiny_policy(gripper_scale=0.1)
    policy.rti = RtiSettings(k_prime=5, timesteps=(5, 2, 0), curve=(0.1, 0.2))
    path = policy.save(tmp_path / "mine.pt")
    loaded = DiffusionPolicy.load(path)
    assert loaded.config == policy.config and loaded.rti == policy.rti
    x = torch.randn(2, 16, 3)
    cond = policy.cond(np.zeros((2, 2, 7)))
    # float16 on disk: the outputs agree to half precision
    assert torch.allclose(loaded.eps(x, 3, cond), policy.eps(x, 3, cond), atol=2e-2)
    monkeypatch.setattr(model_mod, "CHECKPOINT_DIR", tmp_path)
    assert DiffusionPolicy.load("mine").config.gripper_scale == 0.1
    with pytest.raises(CheckpointError, match="shipped: mine"):
        DiffusionPolicy.load("nope")


def test_bad_checkpoints(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        DiffusionPolicy.load(junk)
    torch.save({"version": 99}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="not a liveloop policy checkpoint"):
        DiffusionPolicy.load(tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="no policy checkpoint"):
        DiffusionPolicy.load(tmp_path / "missing.pt")


def test_shipped_reach_grasp_checkpoints_load() -> None:
    for name in ("reach_grasp", "reach_grasp_scale"):
        policy = DiffusionPolicy.load(name)
        assert policy.config.task == "reach_grasp" and policy.config.horizon == 16
        assert policy.rti.timesteps[-1] == 0 and len(policy.rti.timesteps) <= 3
        assert policy.meta["expert_success_rate"] > 0.5
        assert (policy.config.gripper_scale < 1.0) == name.endswith("_scale")
        assert (model_mod.CHECKPOINT_DIR / f"{name}.pt").stat().st_size < 3_000_000


def test_shipped_pusht_checkpoint_fits_the_task() -> None:
    """The Push-T checkpoint was trained on the task's current observation/action layout."""
    from liveloop.policy.tasks import get_task

    policy, task = DiffusionPolicy.load("pusht"), get_task("pusht")
    assert policy.config.task == "pusht" and policy.config.gripper_index is None
    assert (policy.config.obs_dim, policy.config.action_dim) == (task.obs_dim, task.action_dim)
    assert policy.rti.timesteps[-1] == 0 and len(policy.rti.timesteps) <= 3
    assert policy.meta["expert_success_rate"] > 0.5
    assert (model_mod.CHECKPOINT_DIR / "pusht.pt").stat().st_size < 3_000_000


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n_obs - 1 \\+ n_action"):
        PolicyConfig(task="t", obs_dim=2, action_dim=2, n_action=16)
    with pytest.raises(ValueError, match="gripper_index"):
        PolicyConfig(task="t", obs_dim=2, action_dim=2, gripper_index=2)
    with pytest.raises(ValueError, match="gripper_scale"):
        PolicyConfig(task="t", obs_dim=2, action_dim=2, gripper_scale=0.0)
    with pytest.raises(ValueError, match="timesteps"):
        RtiSettings(k_prime=2, timesteps=(3, 0))
    assert RtiSettings(k_prime=4, timesteps=(4,)).timesteps == (4,)


def test_unet_shapes() -> None:
    net = ConditionalUnet1D(3, 14, (8, 16))
    out = net(torch.randn(5, 16, 3), torch.randint(0, 100, (5,)), torch.randn(5, 14))
    assert out.shape == (5, 16, 3)


def test_shipped_cpu_pusht_checkpoint_is_the_recipe_run() -> None:
    from liveloop.policy.train import recipe_config

    policy = DiffusionPolicy.load("pusht_cpu")
    cfg = recipe_config("pusht")
    assert policy.config.task == "pusht" and policy.config.down_dims == cfg.down_dims
    assert policy.meta["device"] == "cpu" and policy.meta["n_demos"] == cfg.n_demos
    assert f"--steps {cfg.steps} " in policy.meta["command"]  # the recipe reproduces the shipped run
    assert len(policy.rti.timesteps) <= 3
