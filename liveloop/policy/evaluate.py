"""Closed-loop evaluation: many episodes at once, the network run on the whole batch.

Samplers (the benchmark's keys):

=============  ===========================  ============================  ==================
key            checkpoint                   sampler                       re-plans every
=============  ===========================  ============================  ==================
``ddpm100``    ``<task>``                   DDPM, 100 steps from noise    8 steps (n_action)
``ddim10``     ``<task>``                   DDIM, 10 steps from noise     8 steps (n_action)
``rti``        ``<task>``                   RTI, warm start, ≤ 3 steps    every step
``rti_clip``   ``<task>``                   RTI, gripper warm start       every step
                                            clipped to ±σ_K′
``rti_scale``  ``<task>_scale`` (gripper    RTI, ≤ 3 steps                every step
               trained at ±0.1)
``rti_k2``     ``<task>``                   RTI along [2, 1, 0] whatever  every step
                                            K′ the checkpoint chose
                                            (ablation of the K′ choice)
=============  ===========================  ============================  ==================

`rollout` steps a list of environments (one per seed) in lock-step; finished
episodes leave the batch (`keep`), so the network only sees live ones. Timing
is measured separately on single episodes (batch 1), which is what a robot
sees: ``ms_per_decision_p50`` is the median over all decisions (for RTI that
is a warm-started one; the first, full decision is reported on its own).
``cpu_ms_per_decision_p50`` is the deciding thread's CPU time (torch runs with
one intra-op thread): on a machine shared with other jobs the wall time
inflates while this does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.rti import ColdStart, DiscreteMode, RtiSampler
from liveloop.policy.samplers import FullSampler, StepKind
from liveloop.policy.tasks import TaskSpec, get_task

SAMPLERS = ("ddpm100", "ddim10", "rti", "rti_clip", "rti_scale", "rti_k2", "rti_scale_cold10")

Sampler = FullSampler | RtiSampler


@dataclass(slots=True)
class EvalResult:
    task: str
    sampler: str
    episodes: int
    success: float  # share of successful episodes, all seeds together
    success_per_seed: list[float]
    nfe_per_decision: int  # steady state (RTI: a warm-started decision)
    nfe_mean: float  # including RTI's first full decision per episode
    decisions_per_step: float  # 1 for RTI, 1/8 for chunked samplers
    ms_per_decision_p50: float
    ms_per_decision_p95: float
    ms_first_decision: float
    cpu_ms_per_decision_p50: float  # CPU time of the deciding thread: what the decision costs without contention
    outcomes: dict[str, int] = field(default_factory=dict)
    mean_max_coverage: float | None = None  # Push-T: best goal coverage reached per episode, averaged

    def as_json(self) -> dict[str, object]:
        return {
            "success": self.success,
            "nfe_per_decision": self.nfe_per_decision,
            "ms_per_decision_p50": self.ms_per_decision_p50,
            "success_per_seed": self.success_per_seed,
            "episodes": self.episodes,
            "nfe_mean": self.nfe_mean,
            "decisions_per_step": self.decisions_per_step,
            "ms_per_decision_p95": self.ms_per_decision_p95,
            "ms_first_decision": self.ms_first_decision,
            "cpu_ms_per_decision_p50": self.cpu_ms_per_decision_p50,
            "outcomes": self.outcomes,
            **({} if self.mean_max_coverage is None else {"mean_max_coverage": self.mean_max_coverage}),
        }


def checkpoint_for(task: str, sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    return f"{task}_scale" if sampler.startswith("rti_scale") else task


def load_for_sampler(task: str, sampler: str, checkpoint: str | None = None) -> DiffusionPolicy:
    policy = DiffusionPolicy.load(checkpoint or checkpoint_for(task, sampler))
    if policy.config.task != task:
        raise ValueError(f"checkpoint was trained on {policy.config.task!r}, not {task!r}")
    return policy


def make_sampler(policy: DiffusionPolicy, sampler: str, seed: int = 0) -> tuple[Sampler, int]:
    """-> (sampler, re-plan period in control steps)."""
    n_action = policy.config.n_action
    if sampler == "ddpm100":
        return FullSampler(policy, StepKind.DDPM, seed=seed), n_action
    if sampler == "ddim10":
        return FullSampler(policy, StepKind.DDIM, k=10, seed=seed), n_action
    if sampler == "rti_k2":
        return RtiSampler(policy, DiscreteMode.NONE, timesteps=(2, 1, 0), seed=seed), 1
    if sampler == "rti_scale_cold10":  # RTI-scale whose first decision is DDIM-10, not DDPM-100
        return RtiSampler(policy, DiscreteMode.SCALE, seed=seed, cold=ColdStart.DDIM10), 1
    modes = {"rti": DiscreteMode.NONE, "rti_clip": DiscreteMode.CLIP, "rti_scale": DiscreteMode.SCALE}
    if sampler not in modes:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    return RtiSampler(policy, modes[sampler], seed=seed), 1


def rollout(
    policy: DiffusionPolicy,
    sampler_name: str,
    seeds: Sequence[int],
    task: TaskSpec | None = None,
    sampler_seed: int = 0,
    timings_ms: list[float] | None = None,
    progress: bool = False,
    outcomes: list[str] | None = None,
    cpu_ms: list[float] | None = None,
    scores: list[float] | None = None,
    sampler: tuple[Sampler, int] | None = None,
    on_decision: Callable[[np.ndarray, Sampler], None] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Run one episode per seed in lock-step. -> (success (N,) bool, NFE of every decision).

    ``outcomes`` (if given) receives each episode's ``info["outcome"]`` (or success/timeout);
    ``scores`` each episode's ``info["max_coverage"]`` where the task reports one (Push-T).
    ``sampler`` (a sampler and its re-plan period) replaces the one ``sampler_name`` makes;
    ``on_decision(live, sampler)`` is called after each decision with the env indices of its batch rows.
    """
    cfg = policy.config
    task = task or get_task(cfg.task)
    sampler_, period = sampler or make_sampler(policy, sampler_name, sampler_seed)
    envs = [task.make_env() for _ in seeds]
    first = [env.reset(int(s)) for env, s in zip(envs, seeds, strict=True)]
    hist = np.repeat(np.asarray(first)[:, None, :], cfg.n_obs, axis=1)  # (N, n_obs, O)
    live = np.arange(len(envs))  # indices of envs still running, in the sampler's batch order
    success = np.zeros(len(envs), dtype=bool)
    nfes: list[int] = []
    plan: np.ndarray | None = None  # (len(live), H, A)
    k0 = cfg.first_executed
    bar = tqdm(total=task.max_steps, desc=f"{cfg.task} {sampler_name}", disable=not progress, mininterval=5.0)
    for step in range(task.max_steps):
        if live.size == 0:
            break
        j = step % period
        if j == 0:
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            plan = sampler_.decide(hist[live])
            if timings_ms is not None:
                timings_ms.append((time.perf_counter_ns() - t0) / 1e6)
            if cpu_ms is not None:
                cpu_ms.append((time.thread_time_ns() - c0) / 1e6)
            nfes.append(sampler_.last_nfe)
            if on_decision is not None:
                on_decision(live, sampler_)
        assert plan is not None
        keep = []
        for b, e in enumerate(live):
            res = envs[e].step(plan[b, k0 + j])
            hist[e, :-1] = hist[e, 1:]
            hist[e, -1] = res.obs
            if res.done:
                success[e] = res.success
                if outcomes is not None:
                    outcomes.append(str(res.info.get("outcome", "success" if res.success else "timeout")))
                if scores is not None and "max_coverage" in res.info:
                    scores.append(float(res.info["max_coverage"]))
            else:
                keep.append(b)
        if len(keep) < live.size:
            live = live[keep]
            plan = plan[keep]
            _keep(sampler_, keep)
        bar.update(1)
    bar.close()
    if outcomes is not None:
        outcomes.extend("timeout" for _ in live)  # still running at the step limit
    return success, nfes


def _keep(sampler: Sampler, rows: list[int]) -> None:
    """Shrink a sampler's per-episode state to the rows still running."""
    if isinstance(sampler, RtiSampler) and sampler.prev_clean is not None:
        sampler.prev_clean = sampler.prev_clean[torch.as_tensor(rows, dtype=torch.long)]


def evaluate_sampler(
    policy: DiffusionPolicy,
    sampler: str,
    n_episodes: int = 50,
    seed: int = 0,
    n_seeds: int = 1,
    timing_episodes: int = 3,
    progress: bool = False,
) -> EvalResult:
    """``n_seeds`` × ``n_episodes`` batched episodes (env seeds disjoint from training's), then batch-1 timing."""
    task = get_task(policy.config.task)
    rates, all_nfe = [], []
    outcomes: list[str] = []
    scores: list[float] = []
    for s in range(n_seeds):
        base = 1_000_000 + 100_000 * (seed + s)
        seeds = range(base, base + n_episodes)
        ok, nfes = rollout(
            policy, sampler, seeds, task, sampler_seed=seed + s, progress=progress, outcomes=outcomes, scores=scores
        )
        rates.append(float(ok.mean()))
        all_nfe.extend(nfes)
    timing = time_sampler(policy, sampler, timing_episodes, seed)
    _, period = make_sampler(policy, sampler)
    return EvalResult(
        task=task.name,
        sampler=sampler,
        episodes=n_seeds * n_episodes,
        success=float(np.mean(rates)),
        success_per_seed=rates,
        nfe_per_decision=int(min(all_nfe)),  # RTI: a warm decision; the others: every decision
        nfe_mean=float(np.mean(all_nfe)),
        decisions_per_step=1.0 / period,
        ms_per_decision_p50=timing["ms_per_decision_p50"],
        ms_per_decision_p95=timing["ms_per_decision_p95"],
        ms_first_decision=timing["ms_first_decision"],
        cpu_ms_per_decision_p50=timing["cpu_ms_per_decision_p50"],
        outcomes={k: outcomes.count(k) for k in sorted(set(outcomes))},
        mean_max_coverage=float(np.mean(scores)) if scores else None,
    )


def time_sampler(policy: DiffusionPolicy, sampler: str, timing_episodes: int = 3, seed: int = 0) -> dict[str, float]:
    """Batch-1 episodes timed decision by decision (wall and CPU), on the compiled network as deployed.

    ``timing_episodes=0`` times nothing: every field is NaN (a success-only evaluation).
    """
    if timing_episodes < 0:
        raise ValueError(f"timing_episodes must be >= 0, got {timing_episodes}")
    if timing_episodes == 0:
        keys = ("ms_per_decision_p50", "ms_per_decision_p95", "ms_first_decision", "cpu_ms_per_decision_p50")
        return dict.fromkeys(keys, float("nan"))
    task = get_task(policy.config.task)
    make_sampler(policy, sampler)[0].compile(1)  # batch-1 timing runs the compiled net, as a deployed policy does
    timings: list[float] = []
    cpu: list[float] = []
    first_ms: list[float] = []
    for e in range(timing_episodes):
        t: list[float] = []
        rollout(policy, sampler, [2_000_000 + e], task, sampler_seed=seed, timings_ms=t, cpu_ms=cpu)
        first_ms.append(t[0])
        timings.extend(t)
    return {
        "ms_per_decision_p50": float(np.median(timings)),
        "ms_per_decision_p95": float(np.percentile(timings, 95)),
        "ms_first_decision": float(np.median(first_ms)),
        "cpu_ms_per_decision_p50": float(np.median(cpu)),
    }
