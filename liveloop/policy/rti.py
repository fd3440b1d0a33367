"""The Real-Time Iteration scheme for diffusion policy (RTI-DP, arXiv 2508.05396).

In optimal control, RTI warm-starts each solve from the previous solution
shifted by one step and runs a single iteration. Here, for a diffusion policy:

1. The first decision of an episode is a full DDPM denoise (``ColdStart.DDPM100``;
   ``ColdStart.DDIM10`` is a 10-step deterministic alternative for a first decision
   that must meet the same deadline as the rest).
2. Every later decision (one per control step) takes the previous *clean*
   chunk, shifts it one step left and repeats its last action (`shift_chunk`),
   treats that as the noisy sample at a small timestep ``K′`` and denoises it
   along a short list, e.g. ``[2, 1, 0]`` — at most 3 network evaluations.

``K′`` is chosen offline (`choose_k_prime`) by the contractivity argument: the
denoiser contracts a sample at level ``k`` onto the data manifold when the
sample sits where forward-diffused data at level ``k`` sits. For consecutive
demonstration chunks ``A_{t-1}, A_t`` (normalised) let ``W = shift(A_{t-1})``
and compare ``W`` with the forward-diffused clean chunk ``x_k = sqrt(ᾱ_k) A_t
+ sqrt(1-ᾱ_k) ε``: the expected squared distance per dimension is
``‖W − sqrt(ᾱ_k) A_t‖²/d`` against the noise's own ``1 − ᾱ_k``. ``K′`` is the
smallest ``k`` at which, for at least a share ``quantile`` of the windows, the
warm start is no farther from the forward-diffused chunk's mean than a typical
noise draw is (``r_k <= 1 − ᾱ_k``),
i.e. the level at which ``W`` is an in-distribution input. The criterion per
``k`` (``median_k |r_k − (1−ᾱ_k)|`` with ``r_k = ‖W − sqrt(ᾱ_k) A_t‖²/d``) is
recorded in the checkpoint with the choice. The tail matters (the windows
where the gripper flips are few), hence ``quantile = 0.97``; ``K′`` is floored
at 2 (the paper's ``[2, 1, 0]``) to leave room for closed-loop corrections the
demonstrations never show.

Which chunk pairs, and how far inside the noise, is a property of the task
(`liveloop.policy.tasks.TaskSpec.k_prime_pairs`, ``k_prime_margin``):

* ``demos`` (reach-and-grasp): the expert's consecutive chunks, ``r_k <= 1 − ᾱ_k``.
  The expert follows one plan, so this measures how far one step moves a
  consistent plan.
* ``policy`` (Push-T): the policy's *own* consecutive chunks, each a DDIM-10
  denoise from fresh noise re-planned every control step (`on_policy_pairs`,
  validation seeds disjoint from the benchmark's), with a margin:
  ``r_k <= (1 − ᾱ_k)/4`` — the warm start's error at most half a noise
  standard deviation. Push-T's actions are set-points relative to the pusher,
  normalised over ±45 px, so one step of closed-loop feedback moves a chunk by
  a good share of its range; the expert's consecutive chunks (K′ = 8 by the
  demos rule) understate that, and RTI at K′ = 8 fails (measured: 9 % success
  against 100 % at K′ = 50 on 20 episodes). On the reach-and-grasp task the
  policy's fresh denoises switch between the two routes round the obstacle,
  which the warm start exists to avoid, and the policy rule over-shoots there
  (RTI-scale 82 % at K′ = 2, 10 % at K′ = 31).

Discrete actions (a gripper, ±1): a warm start that says "open" sits two units
from "closed", far outside the noise at small ``K′``, so a few steps cannot
flip it. Two remedies:

* **scale** — the policy was trained with the gripper normalised to ±0.1
  (``PolicyConfig.gripper_scale``); read back by sign;
* **clip** — the warm start's gripper entries are clipped to ``±σ_{K′}``
  (the noise level at ``K′``), so the denoiser decides them afresh.
"""

from __future__ import annotations

import enum
import itertools

import numpy as np
import torch

from liveloop.policy.compiled import Backend
from liveloop.policy.model import DiffusionPolicy, RtiSettings
from liveloop.policy.samplers import StepKind, denoise


class ColdStart(enum.Enum):
    """How the first decision of an episode (nothing to warm-start from) denoises from pure noise."""

    DDPM100 = "ddpm100"  # the paper's full DDPM denoise: every training timestep (100 NFE)
    DDIM10 = "ddim10"  # DDIM over 10 strided timesteps (10 NFE, one compiled chain): for a tight first deadline


class DiscreteMode(enum.Enum):
    NONE = "none"  # plain RTI
    CLIP = "clip"  # clip the warm start's discrete dims to ±σ_{K′}
    SCALE = "scale"  # the policy was trained with the gripper scaled (checked at construction)


def shift_chunk(chunk: torch.Tensor, steps: int = 1) -> torch.Tensor:
    """(B, H, A): drop the first ``steps`` actions, repeat the last one to keep the horizon."""
    if chunk.dim() != 3:
        raise ValueError(f"chunk must be (B, H, A), got shape {tuple(chunk.shape)}")
    h = chunk.shape[1]
    if not 0 <= steps < h:
        raise ValueError(f"shift must be in [0, {h}), got {steps}")
    if steps == 0:
        return chunk.clone()
    tail = chunk[:, -1:, :].expand(-1, steps, -1)
    return torch.cat([chunk[:, steps:, :], tail], dim=1)


def clip_discrete(warm: torch.Tensor, dims: list[int], limit: float) -> torch.Tensor:
    out = warm.clone()
    for d in dims:
        out[..., d] = out[..., d].clamp(-limit, limit)
    return out


def rti_timesteps(k_prime: int, max_nfe: int = 3) -> tuple[int, ...]:
    """[K′, …, 0] with at most ``max_nfe`` entries (evenly spaced when K′ + 1 > max_nfe).

    With ``max_nfe = 1`` the list is ``(K′,)``: one jump from K′ straight to the clean chunk.
    """
    if k_prime < 0:
        raise ValueError(f"k_prime must be >= 0, got {k_prime}")
    if max_nfe < 1:
        raise ValueError(f"max_nfe must be >= 1, got {max_nfe}")
    if max_nfe == 1:
        return (k_prime,)
    if k_prime + 1 <= max_nfe:
        return tuple(range(k_prime, -1, -1))
    pts = np.linspace(k_prime, 0, max_nfe)
    return tuple(sorted({round(float(p)) for p in pts}, reverse=True))


def choose_k_prime(
    policy: DiffusionPolicy,
    prev_chunks: np.ndarray,
    next_chunks: np.ndarray,
    candidates: range | None = None,
    quantile: float = 0.97,
    max_nfe: int = 3,
    min_k_prime: int = 2,
    margin: float = 1.0,
) -> RtiSettings:
    """Pick K′ from consecutive raw action chunks (N, H, A) (see module docstring).

    A window counts as inside at level k when ``r_k <= margin · (1 − ᾱ_k)``.
    """
    if prev_chunks.shape != next_chunks.shape or prev_chunks.ndim != 3:
        raise ValueError(f"need two (N, H, A) arrays of equal shape, got {prev_chunks.shape}, {next_chunks.shape}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    sched = policy.schedule
    cands = candidates or range(0, sched.num_steps)
    prev = torch.as_tensor(np.asarray(policy.act_norm.normalize(prev_chunks)), dtype=torch.float64)
    nxt = torch.as_tensor(np.asarray(policy.act_norm.normalize(next_chunks)), dtype=torch.float64)
    warm = shift_chunk(prev)
    d = warm[0].numel()
    curve: list[float] = []
    inside: list[float] = []
    for k in cands:
        ab = sched.abar(k)
        r = ((warm - ab**0.5 * nxt) ** 2).flatten(1).sum(1) / d  # (N,) squared distance per dim
        curve.append(float((r - (1 - ab)).abs().median()))
        inside.append(float((r <= margin * (1 - ab)).double().mean()))  # share of windows inside the noise ball
    k_prime = next((k for k, share in zip(cands, inside, strict=True) if share >= quantile), cands[-1])
    k_prime = max(k_prime, min_k_prime)
    return RtiSettings(k_prime=int(k_prime), timesteps=rti_timesteps(int(k_prime), max_nfe), curve=tuple(curve))


class RtiSampler:
    """Warm-started sampler; same contract as `FullSampler` (``reset``, ``decide``, ``last_nfe``).

    ``decide`` is meant to be called once per control step; between calls the
    caller executes the chunk's first action (index ``n_obs - 1``).
    """

    def __init__(
        self,
        policy: DiffusionPolicy,
        mode: DiscreteMode = DiscreteMode.NONE,
        timesteps: tuple[int, ...] | None = None,
        kind: StepKind = StepKind.DDIM,
        seed: int = 0,
        cold: ColdStart = ColdStart.DDPM100,
    ) -> None:
        cfg = policy.config
        if mode is not DiscreteMode.NONE and cfg.gripper_index is None:
            raise ValueError(f"RTI {mode.value} variant needs a task with a discrete action; {cfg.task} has none")
        if mode is DiscreteMode.SCALE and cfg.gripper_scale >= 1.0:
            raise ValueError("RTI scale variant needs a policy trained with gripper_scale < 1 (e.g. 0.1)")
        self.policy = policy
        self.mode = mode
        self.timesteps = tuple(timesteps or policy.rti.timesteps)
        _check_timesteps(self.timesteps)
        self.kind = kind
        self.cold = cold
        sched = policy.schedule
        self.cold_timesteps, self.cold_kind = (
            (tuple(sched.ddpm_timesteps()), StepKind.DDPM)
            if cold is ColdStart.DDPM100
            else (tuple(sched.ddim_timesteps(10)), StepKind.DDIM)
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.prev_clean: torch.Tensor | None = None  # (B, H, A) normalised
        self.last_nfe = 0
        self.decisions = 0

    def reset(self) -> None:
        self.prev_clean = None
        self.last_nfe = 0
        self.decisions = 0

    def compile(self, batch: int = 1, backend: Backend | None = None, *, knob: bool = True) -> None:
        """Compile the net and the warm chain for ``batch`` now (at load); with ``knob``, also every shorter
        chain the ``max_nfe`` knob can pick. The cold start runs the compiled net step by step (compiling a
        long chain whole costs seconds per step to export, for little gain)."""
        ts = self.timesteps
        warm = {ts} | ({rti_timesteps(ts[0], n) for n in range(1, len(ts))} if knob else set())
        self.policy.compile(batch, tuple((c, self.kind) for c in sorted(warm, key=len)), backend)

    def warm_start(self) -> torch.Tensor:
        if self.prev_clean is None:
            raise RuntimeError("no previous chunk: the first decision is a full denoise")
        warm = shift_chunk(self.prev_clean)
        if self.mode is DiscreteMode.CLIP:
            g = self.policy.config.gripper_index
            assert g is not None
            warm = clip_discrete(warm, [g], self.policy.schedule.sigma(self.timesteps[0]))
        return warm

    def decide(self, obs_window: np.ndarray, max_nfe: int | None = None) -> np.ndarray:
        """One decision. ``max_nfe`` (the node's knob) caps a warm decision's network evaluations."""
        policy = self.policy
        cond = policy.cond(obs_window)
        if self.prev_clean is None or self.prev_clean.shape[0] != cond.shape[0]:
            x = policy.noise(cond.shape[0], self.generator)
            ts: tuple[int, ...] = self.cold_timesteps
            x0 = denoise(policy, x, cond, ts, self.cold_kind, self.generator)
        else:
            ts = self.timesteps
            if max_nfe is not None and max_nfe < len(ts):
                ts = rti_timesteps(ts[0], max_nfe)
            x0 = denoise(policy, self.warm_start(), cond, ts, self.kind, self.generator)
        self.last_nfe = len(ts)
        self.prev_clean = x0
        self.decisions += 1
        return policy.to_actions(x0)


def _check_timesteps(ts: tuple[int, ...]) -> None:
    if not ts or ts[-1] < 0 or any(a <= b for a, b in itertools.pairwise(ts)):
        raise ValueError(f"RTI timesteps must be >= 0 and strictly decrease, got {ts}")
