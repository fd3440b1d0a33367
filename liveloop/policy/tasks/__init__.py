"""Simulated tasks for the diffusion policy, by name.

Each task gives an environment with ``reset(seed) -> obs`` and
``step(action) -> StepResult`` (the reach-and-grasp interface), a scripted
expert with ``reset()`` and ``act(obs) -> action``, and its layout: observation
and action sizes, which action dimension (if any) is a discrete gripper, the
control period and the episode length in control steps.

======================  =====  ======  =======  ========  =====================================
task                    obs    action  gripper  dt (s)    success
======================  =====  ======  =======  ========  =====================================
``reach_grasp``         7      3       2        0.1       target grasped and held 0.5 s
``pusht``               8      2       none     0.1       T covers > 95 % of the goal (gym-pusht)
======================  =====  ======  =======  ========  =====================================
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from liveloop.policy.tasks.reach_grasp import StepResult


class TaskEnv(Protocol):
    def reset(self, seed: int | None = None) -> np.ndarray: ...

    def step(self, action: Any, dt_s: float | None = None) -> StepResult: ...


class Expert(Protocol):
    def reset(self) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


class KPrimePairs(enum.Enum):
    """Whose consecutive action chunks RTI's K′ is chosen on (see `liveloop.policy.rti`)."""

    DEMOS = "demos"  # the expert's: one consistent plan per episode
    POLICY = "policy"  # the policy's own, re-planned from fresh noise every control step


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    obs_dim: int
    action_dim: int
    gripper_index: int | None
    control_dt_s: float
    max_steps: int
    make_env: Callable[[], TaskEnv]
    make_expert: Callable[[int], Expert]  # seed -> expert
    k_prime_pairs: KPrimePairs = KPrimePairs.DEMOS
    k_prime_margin: float = 1.0  # a window is inside at level k when r_k <= margin · (1 − ᾱ_k)


def _reach_grasp() -> TaskSpec:
    from liveloop.policy.tasks import reach_grasp as rg

    cfg = rg.ReachGraspConfig()
    return TaskSpec(
        name="reach_grasp",
        obs_dim=rg.OBS_DIM,
        action_dim=rg.ACTION_DIM,
        gripper_index=rg.GRIPPER_INDEX,
        control_dt_s=cfg.control_dt_s,
        max_steps=round(cfg.max_time_s / cfg.control_dt_s),
        make_env=lambda: rg.ReachGrasp(cfg),
        make_expert=lambda seed: rg.ReachGraspExpert(cfg, seed=seed),
    )


def _pusht() -> TaskSpec:
    from liveloop.policy.tasks import pusht

    return TaskSpec(
        name="pusht",
        obs_dim=pusht.OBS_DIM,
        action_dim=pusht.ACTION_DIM,
        gripper_index=None,
        control_dt_s=pusht.CONTROL_DT_S,
        max_steps=pusht.MAX_STEPS,
        make_env=pusht.PushT,
        make_expert=lambda seed: pusht.PushTExpert(seed=seed),
        k_prime_pairs=KPrimePairs.POLICY,
        k_prime_margin=0.25,
    )


TASKS: dict[str, Callable[[], TaskSpec]] = {"reach_grasp": _reach_grasp, "pusht": _pusht}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
