"""The diffusion policy: network, normalisers, noise schedule and RTI settings, saved as one checkpoint.

Windows (Diffusion Policy's convention, ``n_obs = 2``, ``horizon = 16``, ``n_action = 8``)::

    time:      t-1   t    t+1  …  t+7  t+8 … t+14
    obs:       [o    o]                                (n_obs observations, the newest last)
    chunk:     [a    a    a    …  a    a   …  a ]      (horizon actions, from t - n_obs + 1)
    executed:       [a    a    …  a]                   (n_action actions from index n_obs - 1)

The policy owns its normalisers (observations and actions to [-1, 1]; a
discrete gripper to [-s, s]) and reads the gripper back by sign.

Checkpoints are ``torch.save`` dicts holding the EMA weights (float16 on disk),
the config, the normalisers, the RTI settings (``k_prime``, the timestep list
and the contractivity curve they came from) and how they were trained. Shipped
ones live in ``liveloop/policy/checkpoints/<name>.pt`` and load by name.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liveloop.policy.compiled import DEFAULT_BACKEND, Backend, CompiledPolicy
from liveloop.policy.normalizer import LinearNormalizer
from liveloop.policy.schedulers import NoiseSchedule, StepKind
from liveloop.policy.unet import ConditionalUnet1D

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be found or read."""


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    task: str
    obs_dim: int
    action_dim: int
    gripper_index: int | None = None
    gripper_scale: float = 1.0  # 0.1 = the RTI-DP scale variant ("train with gripper / 10")
    horizon: int = 16
    n_obs: int = 2
    n_action: int = 8
    num_train_steps: int = 100
    down_dims: tuple[int, ...] = (32, 64)
    kernel: int = 5
    step_embed_dim: int = 64
    clip_sample: bool = True
    control_dt_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("obs_dim", "action_dim", "horizon", "n_obs", "n_action", "num_train_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.horizon % (2 ** (len(self.down_dims) - 1)) != 0:
            raise ValueError(f"horizon must be divisible by 2**(len(down_dims)-1), got {self.horizon}")
        if self.n_obs - 1 + self.n_action > self.horizon:
            raise ValueError(
                f"n_obs - 1 + n_action must be <= horizon, got {self.n_obs} - 1 + {self.n_action} > {self.horizon}"
            )
        if self.gripper_index is not None and not 0 <= self.gripper_index < self.action_dim:
            raise ValueError(f"gripper_index must be in [0, {self.action_dim}), got {self.gripper_index}")
        if not 0 < self.gripper_scale <= 1:
            raise ValueError(f"gripper_scale must be in (0, 1], got {self.gripper_scale}")
        if any(d % 8 for d in self.down_dims):
            raise ValueError(f"down_dims must be multiples of 8 (GroupNorm), got {self.down_dims}")
        if self.control_dt_s <= 0:
            raise ValueError(f"control_dt_s must be > 0, got {self.control_dt_s}")

    @property
    def cond_dim(self) -> int:
        return self.n_obs * self.obs_dim

    @property
    def first_executed(self) -> int:
        """Index in the chunk of the action for the current time step."""
        return self.n_obs - 1


@dataclass(frozen=True, slots=True)
class RtiSettings:
    """Chosen offline (see `liveloop.policy.rti.choose_k_prime`)."""

    k_prime: int = 2
    timesteps: tuple[int, ...] = (2, 1, 0)
    curve: tuple[float, ...] = ()  # the criterion per candidate K'

    def __post_init__(self) -> None:
        ts = self.timesteps
        if not ts or ts[0] != self.k_prime or ts[-1] < 0 or any(a <= b for a, b in itertools.pairwise(ts)):
            raise ValueError(f"timesteps must start at k_prime and strictly decrease to >= 0, got {ts}")


class DiffusionPolicy:
    """Network + normalisers + schedule. Stateless: samplers keep their own state."""

    def __init__(
        self,
        config: PolicyConfig,
        obs_norm: LinearNormalizer,
        act_norm: LinearNormalizer,
        net: ConditionalUnet1D | None = None,
        rti: RtiSettings | None = None,
        meta: dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> None:
        if obs_norm.dim != config.obs_dim or act_norm.dim != config.action_dim:
            raise ValueError(
                f"normaliser dims ({obs_norm.dim}, {act_norm.dim}) do not match config "
                f"({config.obs_dim}, {config.action_dim})"
            )
        self.config = config
        self.obs_norm = obs_norm
        self.act_norm = act_norm
        self.net = (net or build_net(config)).to(device)
        self.schedule = NoiseSchedule(config.num_train_steps)
        self.rti = rti or RtiSettings()
        self.meta = dict(meta or {})
        self.device = device
        self.compiled = self._compiled(DEFAULT_BACKEND)

    def compile(
        self,
        batch: int = 1,
        chains: tuple[tuple[tuple[int, ...], StepKind], ...] = (),
        backend: Backend | None = None,
    ) -> None:
        """Trace the net for ``batch`` (and the given short chains) now, so no decision pays for it.

        Until this is called every evaluation runs eagerly (see `liveloop.policy.compiled`).
        ``backend`` switches how traced code runs (compiled paths made so far are dropped).
        """
        if backend is not None and backend is not self.compiled.backend:
            self.compiled = self._compiled(backend)
        self.compiled.prepare(batch, chains)

    def _compiled(self, backend: Backend) -> CompiledPolicy:
        cfg = self.config
        return CompiledPolicy(
            self.net,
            self.schedule,
            cfg.clip_sample,
            horizon=cfg.horizon,
            action_dim=cfg.action_dim,
            cond_dim=cfg.cond_dim,
            backend=backend,
        )

    # -- conditioning and network --------------------------------------
    def cond(self, obs_window: np.ndarray) -> torch.Tensor:
        """(B, n_obs, obs_dim) raw observations -> (B, n_obs * obs_dim) normalised, on device."""
        obs = np.asarray(obs_window, dtype=np.float64)
        cfg = self.config
        if obs.ndim != 3 or obs.shape[1:] != (cfg.n_obs, cfg.obs_dim):
            raise ValueError(f"obs window must have shape (B, {cfg.n_obs}, {cfg.obs_dim}), got {obs.shape}")
        if not np.all(np.isfinite(obs)):
            raise ValueError("observations must be finite")
        normed = self.obs_norm.normalize(obs)
        return torch.as_tensor(normed.reshape(obs.shape[0], -1), dtype=torch.float32, device=self.device)

    @torch.inference_mode()
    def eps(self, x: torch.Tensor, t: int, cond: torch.Tensor) -> torch.Tensor:
        fast = self.compiled.eps(x, t, cond)
        if fast is not None:
            return fast
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        return self.net(x, tt, cond)

    @torch.no_grad()
    def walk(
        self, x: torch.Tensor, cond: torch.Tensor, timesteps: tuple[int, ...], kind: StepKind, noise: list[torch.Tensor]
    ) -> torch.Tensor:
        """``NoiseSchedule.walk`` with this policy's network: one traced call when the chain is compiled."""
        chain = self.compiled.chain(timesteps, kind, x.shape[0])
        if chain is not None:
            stacked = torch.stack(noise) if noise else x.new_zeros((0, *x.shape))  # (n_noise, B, H, A)
            return chain(x, cond, stacked)
        return self.schedule.walk(self.eps, x, cond, timesteps, kind, noise, self.config.clip_sample)

    def noise(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        cfg = self.config
        return torch.randn(batch, cfg.horizon, cfg.action_dim, generator=generator).to(self.device)

    def to_actions(self, x0: torch.Tensor) -> np.ndarray:
        """Normalised clean chunk (B, H, A) -> raw actions, the gripper thresholded by sign to ±1."""
        acts = np.asarray(self.act_norm.unnormalize(x0.detach().cpu().double().numpy()))
        g = self.config.gripper_index
        if g is not None:
            acts[..., g] = np.where(x0[..., g].cpu().numpy() > 0, 1.0, -1.0)
        return acts

    # -- checkpoints ------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().half() for k, v in self.net.state_dict().items()}
        blob = {
            "version": CHECKPOINT_VERSION,
            "config": dataclasses.asdict(self.config),
            "obs_norm": self.obs_norm.state_dict(),
            "act_norm": self.act_norm.state_dict(),
            "rti": dataclasses.asdict(self.rti),
            "meta": self.meta,
            "net": state,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, name_or_path: str | Path, device: str = "cpu") -> DiffusionPolicy:
        """Load a shipped checkpoint by name (``reach_grasp``) or any checkpoint by path."""
        path = resolve_checkpoint(name_or_path)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"cannot read policy checkpoint {path}: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"{path} is not a liveloop policy checkpoint (version {CHECKPOINT_VERSION})")
        cfgd = dict(blob["config"])
        cfgd["down_dims"] = tuple(cfgd["down_dims"])
        config = PolicyConfig(**cfgd)
        rtid = dict(blob["rti"])
        rti = RtiSettings(int(rtid["k_prime"]), tuple(rtid["timesteps"]), tuple(rtid["curve"]))
        net = build_net(config)
        net.load_state_dict({k: v.float() for k, v in blob["net"].items()})
        net.eval()
        return cls(
            config,
            LinearNormalizer.from_state_dict(blob["obs_norm"]),
            LinearNormalizer.from_state_dict(blob["act_norm"]),
            net=net,
            rti=rti,
            meta=blob.get("meta", {}),
            device=device,
        )


def build_net(config: PolicyConfig) -> ConditionalUnet1D:
    return ConditionalUnet1D(
        config.action_dim, config.cond_dim, config.down_dims, step_embed_dim=config.step_embed_dim, kernel=config.kernel
    )


def shipped_checkpoints() -> list[str]:
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        if not p.is_file():
            raise CheckpointError(f"no policy checkpoint at {p}")
        return p
    candidate = CHECKPOINT_DIR / f"{name_or_path}.pt"
    if not candidate.is_file():
        known = ", ".join(shipped_checkpoints()) or "none"
        raise CheckpointError(f"no shipped policy checkpoint named {name_or_path!r}; shipped: {known}")
    return candidate
