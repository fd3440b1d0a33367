"""Demonstrations from a scripted expert, and DDPM training with EMA.

``collect_demos`` runs the task's expert and keeps the successful episodes
(the experts are imperfect; their success rate is reported). ``make_windows``
cuts every episode into Diffusion Policy windows (see `liveloop.policy.model`),
padding the start with the first observation/action and the end with the last
action. ``train`` fits the ε-prediction network with the standard DDPM loss,
keeps an exponential moving average of the weights (the EMA weights are what
is saved and sampled), writes a checkpoint every ``checkpoint_every`` steps
and at the end, and picks RTI's ``K′`` on the demonstrations each time.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from tqdm import tqdm

from liveloop.policy.model import DiffusionPolicy, PolicyConfig
from liveloop.policy.normalizer import LinearNormalizer
from liveloop.policy.rti import choose_k_prime
from liveloop.policy.tasks import TaskSpec, get_task


@dataclass(frozen=True, slots=True)
class Demos:
    episodes: list[tuple[np.ndarray, np.ndarray]]  # [(obs (L, O), actions (L, A))], successful only
    attempted: int
    expert_success_rate: float


@dataclass(frozen=True, slots=True)
class TrainConfig:
    task: str = "reach_grasp"
    n_demos: int = 300  # successful episodes to keep
    max_attempts: int = 5000
    steps: int = 3000
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 1e-6
    warmup_steps: int = 300
    ema_max_decay: float = 0.999
    gripper_scale: float = 1.0
    down_dims: tuple[int, ...] = (32, 64)
    seed: int = 0
    checkpoint_every: int = 500
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("n_demos", "max_attempts", "steps", "batch_size", "checkpoint_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.ema_max_decay < 1:
            raise ValueError(f"ema_max_decay must be in (0, 1), got {self.ema_max_decay}")


def collect_demos(task: TaskSpec, n_success: int, max_attempts: int, seed: int = 0, progress: bool = False) -> Demos:
    """Run the expert on seeds ``seed, seed+1, …`` until ``n_success`` successful episodes (or attempts run out)."""
    env = task.make_env()
    expert = task.make_expert(seed)
    episodes: list[tuple[np.ndarray, np.ndarray]] = []
    attempted = 0
    bar = tqdm(total=n_success, desc=f"{task.name} demos", disable=not progress, mininterval=2.0)
    while len(episodes) < n_success and attempted < max_attempts:
        obs = env.reset(seed + attempted)
        expert.reset()
        attempted += 1
        obs_l, act_l = [], []
        success = False
        for _ in range(task.max_steps):
            act = expert.act(obs)
            obs_l.append(obs)
            act_l.append(act)
            res = env.step(act)
            obs = res.obs
            if res.done:
                success = res.success
                break
        if success:
            episodes.append((np.asarray(obs_l), np.asarray(act_l)))
            bar.update(1)
    bar.close()
    if not episodes:
        raise RuntimeError(f"the {task.name} expert succeeded in none of {attempted} episodes")
    return Demos(episodes, attempted, len(episodes) / attempted)


def make_windows(
    episodes: list[tuple[np.ndarray, np.ndarray]], horizon: int, n_obs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> obs windows (N, n_obs, O), action chunks (N, H, A), episode index (N,)."""
    obs_w, act_w, ep_idx = [], [], []
    for e, (obs, act) in enumerate(episodes):
        n = len(obs)
        for t in range(n):
            oi = np.clip(np.arange(t - n_obs + 1, t + 1), 0, n - 1)
            ai = np.clip(np.arange(t - n_obs + 1, t - n_obs + 1 + horizon), 0, n - 1)
            obs_w.append(obs[oi])
            act_w.append(act[ai])
            ep_idx.append(e)
    return np.asarray(obs_w), np.asarray(act_w), np.asarray(ep_idx)


def consecutive_pairs(act_w: np.ndarray, ep_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chunks (t-1, t) of the same episode, for choosing K′."""
    same = ep_idx[1:] == ep_idx[:-1]
    return act_w[:-1][same], act_w[1:][same]


def train(
    cfg: TrainConfig,
    out_path: str | Path,
    log: TextIO | None = None,
    device: str | None = None,
) -> DiffusionPolicy:
    """Collect demos, train, save to ``out_path``; returns the (EMA) policy."""
    torch.set_num_threads(cfg.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    task = get_task(cfg.task)
    t_start = time.monotonic()
    demos = collect_demos(task, cfg.n_demos, cfg.max_attempts, seed=10_000 + cfg.seed, progress=log is not None)
    _log(log, f"expert: {len(demos.episodes)} successful of {demos.attempted} ({demos.expert_success_rate:.1%})")
    pcfg = PolicyConfig(
        task=task.name,
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        gripper_index=task.gripper_index,
        gripper_scale=cfg.gripper_scale,
        down_dims=cfg.down_dims,
        control_dt_s=task.control_dt_s,
    )
    obs_w, act_w, ep_idx = make_windows(demos.episodes, pcfg.horizon, pcfg.n_obs)
    obs_norm = LinearNormalizer.fit(obs_w)
    discrete = () if task.gripper_index is None else (task.gripper_index,)
    act_norm = LinearNormalizer.fit(act_w, discrete_dims=discrete, discrete_scale=cfg.gripper_scale)
    meta: dict[str, Any] = {
        "train_config": asdict(cfg),
        "expert_success_rate": demos.expert_success_rate,
        "n_demos": len(demos.episodes),
        "n_windows": len(obs_w),
        "command": f"liveloop policy train --task {cfg.task} --steps {cfg.steps}"
        + f" --demos {cfg.n_demos} --batch-size {cfg.batch_size} --lr {cfg.lr} --seed {cfg.seed}"
        + f" --down-dims {','.join(map(str, cfg.down_dims))}"
        + (f" --gripper-scale {cfg.gripper_scale}" if cfg.gripper_scale != 1.0 else ""),
    }
    policy = DiffusionPolicy(pcfg, obs_norm, act_norm, meta=meta, device=device)
    net = policy.net
    net.train()
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = policy.schedule

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * frac))

    obs_t = torch.as_tensor(np.asarray(obs_norm.normalize(obs_w)).reshape(len(obs_w), -1), dtype=torch.float32)
    act_t = torch.as_tensor(np.asarray(act_norm.normalize(act_w)), dtype=torch.float32)
    prev_c, next_c = consecutive_pairs(act_w, ep_idx)
    _log(log, f"windows: {len(obs_w)}; params: {sum(p.numel() for p in net.parameters())}; device {device}")
    bar = tqdm(range(cfg.steps), desc=f"train {cfg.task}", file=log, mininterval=10.0)
    loss_ema = None
    for step in bar:
        idx = torch.as_tensor(rng.integers(0, len(obs_t), cfg.batch_size))
        x0, cond = act_t[idx].to(device), obs_t[idx].to(device)
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.num_steps, (cfg.batch_size,), device=device)
        x_t = sched.add_noise(x0, noise, t)
        loss = torch.nn.functional.mse_loss(net(x_t, t, cond), noise)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay = min(cfg.ema_max_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters(), strict=True):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
            for be, bn in zip(ema.buffers(), net.buffers(), strict=True):
                be.copy_(bn)
        loss_v = float(loss.detach())
        loss_ema = loss_v if loss_ema is None else 0.98 * loss_ema + 0.02 * loss_v
        bar.set_postfix(loss=f"{loss_ema:.4f}", refresh=False)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            snapshot = DiffusionPolicy(pcfg, obs_norm, act_norm, net=copy.deepcopy(ema).cpu(), meta=meta)
            snapshot.rti = choose_k_prime(snapshot, prev_c, next_c)
            snapshot.meta.update(
                steps_done=step + 1, loss_ema=loss_ema, train_minutes=(time.monotonic() - t_start) / 60
            )
            snapshot.save(out_path)
            _log(
                log,
                f"step {step + 1}: loss {loss_ema:.4f}, K'={snapshot.rti.k_prime} {snapshot.rti.timesteps}, "
                f"saved {out_path}",
            )
            policy = snapshot
    bar.close()
    _log(log, json.dumps({k: v for k, v in policy.meta.items() if k != "train_config"}))
    return policy


def _log(log: TextIO | None, msg: str) -> None:
    if log is not None:
        print(msg, file=log, flush=True)
