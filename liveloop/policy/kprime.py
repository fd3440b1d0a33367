"""Choosing RTI's K′ for a trained policy, by the task's rule (see `liveloop.policy.rti`).

`pick_k_prime` applies `rti.choose_k_prime` to the chunk pairs the task names:
the expert's consecutive chunks (``KPrimePairs.DEMOS``), or the policy's own
(``KPrimePairs.POLICY``) from `on_policy_pairs`: closed-loop episodes on
validation seeds (``VALIDATION_SEED`` onwards, disjoint from training's and the
benchmark's), each control step a DDIM-10 denoise from fresh noise, every
episode's consecutive clean chunks paired.
"""

from __future__ import annotations

import numpy as np

from liveloop.policy.evaluate import Sampler, rollout
from liveloop.policy.model import DiffusionPolicy, RtiSettings
from liveloop.policy.rti import choose_k_prime
from liveloop.policy.samplers import FullSampler, StepKind
from liveloop.policy.tasks import KPrimePairs, TaskSpec, get_task

VALIDATION_SEED = 3_000_000  # training uses 10_000+, the benchmark 1_000_000+, batch-1 timing 2_000_000+


def on_policy_pairs(
    policy: DiffusionPolicy, n_episodes: int = 20, seed: int = VALIDATION_SEED, task: TaskSpec | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """-> (previous, next) raw action chunks (N, H, A) of the policy re-planning every step, all episodes."""
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    last: dict[int, np.ndarray] = {}  # env -> its previous clean chunk (normalised)
    prev_l: list[np.ndarray] = []
    next_l: list[np.ndarray] = []

    def record(live: np.ndarray, sampler: Sampler) -> None:
        assert isinstance(sampler, FullSampler) and sampler.last_clean is not None
        clean = sampler.last_clean.detach().cpu().double().numpy()
        for b, e in enumerate(live.tolist()):
            if e in last:
                prev_l.append(last[e])
                next_l.append(clean[b])
            last[e] = clean[b]

    every_step = (FullSampler(policy, StepKind.DDIM, k=10, seed=seed), 1)
    seeds = range(seed, seed + n_episodes)
    rollout(policy, "ddim10", seeds, task, sampler=every_step, on_decision=record)
    if not prev_l:
        raise RuntimeError("no consecutive decisions: every episode ended after one step")
    prev = np.asarray(policy.act_norm.unnormalize(np.asarray(prev_l)))
    nxt = np.asarray(policy.act_norm.unnormalize(np.asarray(next_l)))
    return prev, nxt


def pick_k_prime(
    policy: DiffusionPolicy,
    demo_pairs: tuple[np.ndarray, np.ndarray] | None = None,
    n_episodes: int = 20,
) -> tuple[RtiSettings, str]:
    """-> (RTI settings, a one-line description of the rule) for ``policy`` by its task's rule."""
    task = get_task(policy.config.task)
    if task.k_prime_pairs is KPrimePairs.DEMOS:
        if demo_pairs is None:
            raise ValueError(f"task {task.name!r} picks K' on demonstration chunks: pass demo_pairs")
        prev, nxt = demo_pairs
        source = f"{len(prev)} consecutive demonstration chunk pairs"
    else:
        prev, nxt = on_policy_pairs(policy, n_episodes, task=task)
        source = f"{len(prev)} consecutive chunk pairs of the policy (DDIM-10 every step, {n_episodes} episodes)"
    settings = choose_k_prime(policy, prev, nxt, margin=task.k_prime_margin)
    rule = f"K'={settings.k_prime}: 97 % of {source} inside {task.k_prime_margin:g}·(1 - abar_k)"
    return settings, rule
