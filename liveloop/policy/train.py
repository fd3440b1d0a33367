"""Demonstrations from a scripted expert, and DDPM training with EMA.

``collect_demos`` runs the task's expert and keeps the successful episodes
(the experts are imperfect; their success rate is reported). ``make_windows``
cuts every episode into Diffusion Policy windows (see `liveloop.policy.model`),
padding the start with the first observation/action and the end with the last
action. ``train`` fits the ε-prediction network with the standard DDPM loss,
keeps an exponential moving average of the weights (the EMA weights are what
is saved and sampled), writes a checkpoint every ``checkpoint_every`` steps
and at the end, and picks RTI's ``K′`` each time: on the demonstrations in
between, by the task's rule (`liveloop.policy.kprime`) for the final one.
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

from liveloop.policy.kprime import pick_k_prime
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
    demos_file: str = ""  # demonstrations saved by `save_demos` ("" = run the expert now)
    max_minutes: float = 0.0  # train for at most this long (the LR decays over it); 0 = no limit

    def __post_init__(self) -> None:
        for name in ("n_demos", "max_attempts", "steps", "batch_size", "checkpoint_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0, got {self.max_minutes}")
        if not 0 < self.ema_max_decay < 1:
            raise ValueError(f"ema_max_decay must be in (0, 1), got {self.ema_max_decay}")


# Each task's default training run (`liveloop policy train --task T` with no other flags): what trains a
# useful policy on a 2-core CPU in under an hour, expert demonstrations included.
#   reach_grasp: ≈ 25 min (RTI 71 %, RTI-scale 87 % with --gripper-scale 0.1).
#   pusht: demonstrations 9 min + 8414 steps 45 min (2 threads, the machine shared) + K' 2 min = 56 min;
#   shipped as `pusht_cpu`: RTI 41.3 % at 3 NFE vs DDPM-100 3.3 % and DDIM-10 4.7 % (3 seeds × 50 episodes,
#   benchmarks/results/rti_policy.json). The shipped `pusht` checkpoint is the same U-Net trained on a GPU
#   with 5× the samples (batch 1024, 6695 steps, 4 min on an H200): RTI 88.7 %, DDPM-100 63.3 %.
TRAIN_RECIPES: dict[str, dict[str, Any]] = {
    "reach_grasp": {"n_demos": 300, "steps": 3000, "batch_size": 128, "lr": 5e-4, "down_dims": (32, 64), "threads": 1},
    "pusht": {"n_demos": 600, "steps": 8414, "batch_size": 128, "lr": 1e-3, "down_dims": (64, 128), "threads": 2},
}


def recipe_config(task: str, **overrides: Any) -> TrainConfig:
    """``task``'s default `TrainConfig` (`TRAIN_RECIPES`), with ``overrides`` (None values ignored) on top."""
    get_task(task)  # an unknown task is named here
    fields = {**TRAIN_RECIPES.get(task, {}), **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(task=task, **fields)


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


def save_demos(path: str | Path, task: str, demos: Demos) -> Path:
    """Write demonstrations to one ``.npz`` (episodes concatenated, with their lengths)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs = np.concatenate([o for o, _ in demos.episodes])
    act = np.concatenate([a for _, a in demos.episodes])
    lengths = np.asarray([len(o) for o, _ in demos.episodes])
    with open(path, "wb") as f:
        np.savez_compressed(
            f,
            task=np.asarray(task),
            obs=obs,
            act=act,
            lengths=lengths,
            attempted=np.asarray(demos.attempted),
            expert_success_rate=np.asarray(demos.expert_success_rate),
        )
    return path


def load_demos(path: str | Path, task: str) -> Demos:
    """Read `save_demos` output; the file must hold ``task``'s demonstrations."""
    try:
        z = np.load(path, allow_pickle=False)
        saved_task, obs, act, lengths = str(z["task"]), z["obs"], z["act"], z["lengths"]
        attempted, rate = int(z["attempted"]), float(z["expert_success_rate"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"cannot read demonstrations from {path}: {exc}") from exc
    if saved_task != task:
        raise ValueError(f"{path} holds {saved_task!r} demonstrations, not {task!r}")
    if len(obs) != len(act) or int(lengths.sum()) != len(obs):
        raise ValueError(f"{path}: episode lengths do not add up to the number of steps")
    cuts = np.cumsum(lengths)[:-1]
    episodes = list(zip(np.split(obs, cuts), np.split(act, cuts), strict=True))
    return Demos(episodes, attempted, rate)


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
    if cfg.demos_file:
        demos = load_demos(cfg.demos_file, task.name)
        demos = Demos(demos.episodes[: cfg.n_demos], demos.attempted, demos.expert_success_rate)
    else:
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
        "command": _command(cfg, cfg.steps),
    }
    policy = DiffusionPolicy(pcfg, obs_norm, act_norm, meta=meta, device=device)
    net = policy.net
    net.train()
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = policy.schedule

    def lr_at(step: int, elapsed_s: float) -> float:
        """Warm-up, then cosine decay over the steps — or over ``max_minutes``, whichever runs out first."""
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        if cfg.max_minutes > 0:
            frac = max(frac, elapsed_s / (60 * cfg.max_minutes))
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    obs_flat = np.asarray(obs_norm.normalize(obs_w)).reshape(len(obs_w), -1)
    obs_t = torch.as_tensor(obs_flat, dtype=torch.float32, device=device)
    act_t = torch.as_tensor(np.asarray(act_norm.normalize(act_w)), dtype=torch.float32, device=device)
    ema_params, net_params = list(ema.parameters()), list(net.parameters())
    prev_c, next_c = consecutive_pairs(act_w, ep_idx)
    _log(log, f"windows: {len(obs_w)}; params: {sum(p.numel() for p in net.parameters())}; device {device}")
    bar = tqdm(range(cfg.steps), desc=f"train {cfg.task}", file=log, mininterval=10.0)
    loss_ema = None
    t_train = time.monotonic()
    for step in bar:
        idx = torch.as_tensor(rng.integers(0, len(obs_t), cfg.batch_size), device=device)
        x0, cond = act_t[idx], obs_t[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.num_steps, (cfg.batch_size,), device=device)
        x_t = sched.add_noise(x0, noise, t)
        loss = torch.nn.functional.mse_loss(net(x_t, t, cond), noise)
        elapsed_s = time.monotonic() - t_train
        for g in opt.param_groups:
            g["lr"] = lr_at(step, elapsed_s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay = min(cfg.ema_max_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, net_params, 1 - decay)  # pe ← decay·pe + (1 − decay)·pn
            for be, bn in zip(ema.buffers(), net.buffers(), strict=True):
                be.copy_(bn)
        if step % 50 == 0 or step + 1 == cfg.steps:  # reading the loss syncs with the GPU: not every step
            loss_v = float(loss.detach())
            loss_ema = loss_v if loss_ema is None else 0.8 * loss_ema + 0.2 * loss_v
            bar.set_postfix(loss=f"{loss_ema:.4f}", refresh=False)
        out_of_time = cfg.max_minutes > 0 and elapsed_s > 60 * cfg.max_minutes
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps or out_of_time:
            snapshot = DiffusionPolicy(pcfg, obs_norm, act_norm, net=copy.deepcopy(ema).cpu(), meta=meta)
            final = step + 1 == cfg.steps or out_of_time
            if final:  # the task's rule (may roll the policy out); in between, the cheap demonstrations rule
                snapshot.rti, snapshot.meta["k_prime_rule"] = pick_k_prime(snapshot, (prev_c, next_c))
            else:
                snapshot.rti = choose_k_prime(snapshot, prev_c, next_c)
            snapshot.meta.update(
                steps_done=step + 1, loss_ema=loss_ema, train_minutes=(time.monotonic() - t_start) / 60
            )
            if out_of_time:  # the same schedule, by steps: what reproduces this run on any machine
                snapshot.meta["command"] = _command(cfg, step + 1)
            snapshot.meta["device"] = str(device)
            snapshot.save(out_path)
            _log(
                log,
                f"step {step + 1}: loss {loss_ema:.4f}, K'={snapshot.rti.k_prime} {snapshot.rti.timesteps}, "
                f"saved {out_path}",
            )
            policy = snapshot
        if out_of_time:
            _log(log, f"stopped after {step + 1} of {cfg.steps} steps: --max-minutes {cfg.max_minutes} reached")
            break
    bar.close()
    _log(log, json.dumps({k: v for k, v in policy.meta.items() if k != "train_config"}))
    return policy


def _command(cfg: TrainConfig, steps: int) -> str:
    """The ``liveloop policy train`` command line that trains with ``cfg`` for ``steps`` steps."""
    return (
        f"liveloop policy train --task {cfg.task} --steps {steps}"
        + f" --demos {cfg.n_demos} --batch-size {cfg.batch_size} --lr {cfg.lr} --seed {cfg.seed}"
        + f" --down-dims {','.join(map(str, cfg.down_dims))}"
        + (f" --gripper-scale {cfg.gripper_scale}" if cfg.gripper_scale != 1.0 else "")
    )


def _log(log: TextIO | None, msg: str) -> None:
    if log is not None:
        print(msg, file=log, flush=True)
