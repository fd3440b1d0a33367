"""`liveloop policy train|eval` end to end (tiny runs: a few gradient steps; the shipped checkpoint for eval)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveloop.cli import main
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.tasks import get_task
from liveloop.policy.train import collect_demos, load_demos


def test_train_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "rg.pt"
    log = tmp_path / "train.log"
    args = ["policy", "train", "--task", "reach_grasp", "--steps", "4", "--demos", "3", "--batch-size", "8"]
    rc = main([*args, "--gripper-scale", "0.1", "--out", str(out), "--log", str(log)])
    assert rc == 0
    policy = DiffusionPolicy.load(out)
    assert policy.config.gripper_scale == 0.1 and policy.meta["steps_done"] == 4
    assert "--gripper-scale 0.1" in policy.meta["command"]
    text = log.read_text()
    assert "expert: 3 successful of 3" in text and "K'=" in text


def test_demos_file_feeds_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demos = tmp_path / "rg.npz"
    assert main(["policy", "demos", "--task", "reach_grasp", "--demos", "3", "--out", str(demos)]) == 0
    assert "saved" in capsys.readouterr().out
    loaded = load_demos(demos, "reach_grasp")
    fresh = collect_demos(get_task("reach_grasp"), 3, 100, seed=10_000)  # what train would collect itself
    assert len(loaded.episodes) == 3 and loaded.attempted == fresh.attempted
    for (o1, a1), (o2, a2) in zip(loaded.episodes, fresh.episodes, strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError, match="'reach_grasp' demonstrations, not 'pusht'"):
        load_demos(demos, "pusht")

    out, log = tmp_path / "rg.pt", tmp_path / "train.log"
    args = ["policy", "train", "--task", "reach_grasp", "--steps", "100000", "--demos", "2", "--batch-size", "8"]
    rc = main([*args, "--demos-file", str(demos), "--max-minutes", "0.002", "--out", str(out), "--log", str(log)])
    assert rc == 0
    policy = DiffusionPolicy.load(out)
    done = policy.meta["steps_done"]
    assert policy.meta["n_demos"] == 2 and 1 <= done < 100_000  # stopped by the time budget, not the steps
    assert f"--steps {done} " in policy.meta["command"]  # the command that reproduces the run by steps
    assert "--max-minutes 0.002 reached" in log.read_text()


def test_eval_prints_success_and_ms(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["policy", "eval", "--task", "reach_grasp", "--sampler", "rti", "--episodes", "2", "--timing-episodes", "1"]
        )
        == 0
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("reach_grasp rti: success") and "ms per decision" in line and "NFE per decision" in line
    assert "outcomes" in line


def test_eval_without_timing_reports_success_only(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "eval", "--task", "reach_grasp", "--sampler", "ddim10", "--episodes", "2"]
    assert main([*args, "--timing-episodes", "0"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("reach_grasp ddim10: success") and "nan ms per decision" in line


def test_eval_rejects_unknown_sampler() -> None:
    with pytest.raises(SystemExit):
        main(["policy", "eval", "--sampler", "ddpm7"])


def test_each_task_has_a_cpu_hour_training_recipe() -> None:
    from liveloop.policy.train import recipe_config

    pusht = recipe_config("pusht")
    assert (pusht.n_demos, pusht.steps, pusht.batch_size, pusht.lr, pusht.down_dims) == (
        600,
        8414,
        128,
        1e-3,
        (64, 128),
    )
    assert recipe_config("reach_grasp").down_dims == (32, 64)
    tuned = recipe_config("pusht", steps=10, lr=None)  # None: keep the recipe's value
    assert tuned.steps == 10 and tuned.lr == 1e-3
    with pytest.raises(ValueError, match="unknown task 'pushy'"):
        recipe_config("pushy")


def test_train_names_an_unknown_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "train", "--task", "pushy"]) == 2
    assert "unknown task 'pushy'" in capsys.readouterr().err
