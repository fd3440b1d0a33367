"""Reach-and-grasp: a 2-D point robot catches a moving target around an obstacle.

The liveloop task made for this framework (the robot app runs it at 50 Hz in a
simulated robot process; the policy is trained on it at 10 Hz). Pure NumPy,
sans-I/O, deterministic given the seed passed to `reset`.

Workspace (metres, y up)::

      y=+1 ┌───────────────────────────────┐
           │        ○→  target (moving)    │   target box: x ∈ [-0.8, 0.8], y ∈ [0.35, 0.85]
           │                               │
           │   left     ███████    right   │   obstacle: disc, centre (0, 0), radius 0.3 m
           │   route    ███████    route   │   (touching it ends the episode as a failure)
           │                               │
           │              ● robot          │   start: (0, -0.8) ± 0.05
      y=-1 └───────────────────────────────┘
          x=-1                           x=+1

Two routes lead around the obstacle (left or right), so demonstrations from the
scripted expert are multimodal: the expert picks a side at random per episode.

**Observation** ``obs`` (float64, shape ``(7,)``)::

    [0:2] robot position x, y (m)
    [2]   gripper state: -1 open, +1 closed
    [3:5] target position x, y (m)
    [5:7] target velocity vx, vy (m/s)

**Action** ``action`` (float64, shape ``(3,)``)::

    [0:2] position set-point x, y (m) — the robot servoes towards it at up to
          ``max_speed_mps`` (first-order, gain ``servo_gain_per_s``)
    [2]   gripper command: > 0 close, <= 0 open (the policy emits ±1)

**Grasp rules.** Closing the gripper (open → closed) within ``grasp_radius_m``
of the target grasps it; the target then moves with the robot. The episode
succeeds once the target has been held for ``hold_s``. Closing on air is a
missed grasp; the robot must open again, and more than ``max_missed_grasps``
misses fail the episode. Opening while holding drops the target (it resumes its
motion). Touching the obstacle or running out of time (``max_time_s``) fails.

**The target** moves by itself by default (constant speed, bouncing inside the
target box). In the full app its motion comes from outside — the vision
predictor — through `set_target` (position + velocity, extrapolated) or
`set_target_trajectory` (timed waypoints, linearly interpolated).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OBS_DIM = 7
ACTION_DIM = 3
GRIPPER_INDEX = 2  # index of the discrete (gripper) action dimension


class ReachGraspError(ValueError):
    """Bad input to the reach-and-grasp simulator (wrong shape, NaN, bad dt)."""


class TargetMode(enum.Enum):
    BOUNCE = "bounce"  # built-in motion: constant speed, reflected at the target box
    CONSTANT = "constant"  # set from outside: position + velocity, extrapolated
    TRAJECTORY = "trajectory"  # set from outside: timed waypoints, interpolated


class Outcome(enum.Enum):
    RUNNING = "running"
    SUCCESS = "success"
    COLLISION = "collision"
    TIMEOUT = "timeout"
    MISSED_GRASPS = "missed_grasps"


@dataclass(frozen=True, slots=True)
class ReachGraspConfig:
    """Geometry, dynamics and rules. All lengths in metres, times in seconds."""

    workspace_half_m: float = 1.0
    robot_start: tuple[float, float] = (0.0, -0.8)
    robot_start_jitter_m: float = 0.05
    max_speed_mps: float = 1.0
    servo_gain_per_s: float = 10.0
    obstacle_center: tuple[float, float] = (0.0, 0.0)
    obstacle_radius_m: float = 0.3
    target_box: tuple[float, float, float, float] = (-0.8, 0.35, 0.8, 0.85)  # x0, y0, x1, y1
    target_speed_range_mps: tuple[float, float] = (0.05, 0.2)
    grasp_radius_m: float = 0.05
    hold_s: float = 0.5
    max_missed_grasps: int = 2
    max_time_s: float = 6.0
    physics_dt_s: float = 0.01  # integration sub-step; `step(dt_s)` is split into these
    control_dt_s: float = 0.1  # the rate demonstrations and the policy use (10 Hz)

    def __post_init__(self) -> None:
        def positive(name: str, value: float) -> None:
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

        for name in (
            "workspace_half_m",
            "max_speed_mps",
            "servo_gain_per_s",
            "obstacle_radius_m",
            "grasp_radius_m",
            "hold_s",
            "max_time_s",
            "physics_dt_s",
            "control_dt_s",
        ):
            positive(name, getattr(self, name))
        if self.robot_start_jitter_m < 0:
            raise ValueError(f"robot_start_jitter_m must be >= 0, got {self.robot_start_jitter_m}")
        if self.max_missed_grasps < 0:
            raise ValueError(f"max_missed_grasps must be >= 0, got {self.max_missed_grasps}")
        x0, y0, x1, y1 = self.target_box
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"target_box must be (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {self.target_box}")
        lo, hi = self.target_speed_range_mps
        if not (0 <= lo <= hi):
            raise ValueError(f"target_speed_range_mps must be (lo, hi) with 0 <= lo <= hi, got {(lo, hi)}")
        if self.physics_dt_s > self.control_dt_s:
            raise ValueError(f"physics_dt_s must be <= control_dt_s, got {self.physics_dt_s} > {self.control_dt_s}")


@dataclass(frozen=True, slots=True)
class StepResult:
    obs: np.ndarray  # (OBS_DIM,)
    reward: float
    done: bool
    success: bool
    info: dict[str, Any] = field(default_factory=dict)


def check_action(action: Any) -> np.ndarray:
    """Return ``action`` as a float64 ``(3,)`` array or raise `ReachGraspError` naming the fault."""
    try:
        arr = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReachGraspError(f"action must be numeric [x, y, gripper], got {action!r}") from exc
    if arr.shape != (ACTION_DIM,):
        raise ReachGraspError(f"action must have shape ({ACTION_DIM},) = [x, y, gripper], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ReachGraspError(f"action must be finite, got {arr.tolist()}")
    return arr


class ReachGrasp:
    """The simulator. ``reset(seed) -> obs``; ``step(action, dt_s) -> StepResult``."""

    def __init__(self, config: ReachGraspConfig | None = None) -> None:
        self.config = config or ReachGraspConfig()
        self._rng = np.random.default_rng(0)
        self._reset_state()

    # -- state ---------------------------------------------------------
    def _reset_state(self) -> None:
        self.time_s = 0.0
        self.robot = np.array(self.config.robot_start, dtype=np.float64)
        self.gripper_closed = False
        self.target = np.zeros(2)
        self.target_vel = np.zeros(2)
        self.target_mode = TargetMode.BOUNCE
        self._traj_t: np.ndarray | None = None  # (N,) seconds, episode time
        self._traj_xy: np.ndarray | None = None  # (N, 2)
        self.held = False
        self.held_s = 0.0
        self.missed_grasps = 0
        self.outcome = Outcome.RUNNING

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start an episode; the same seed gives the same episode."""
        cfg = self.config
        self._rng = np.random.default_rng(seed)
        self._reset_state()
        self.robot = np.array(cfg.robot_start) + self._rng.uniform(-1, 1, 2) * cfg.robot_start_jitter_m
        x0, y0, x1, y1 = cfg.target_box
        self.target = np.array([self._rng.uniform(x0, x1), self._rng.uniform(y0 + 0.05, y1 - 0.05)])
        speed = self._rng.uniform(*cfg.target_speed_range_mps)
        heading = self._rng.uniform(-0.35, 0.35) + (0.0 if self._rng.random() < 0.5 else math.pi)
        self.target_vel = speed * np.array([math.cos(heading), math.sin(heading)])
        return self.observation()

    def observation(self) -> np.ndarray:
        return np.array(
            [
                self.robot[0],
                self.robot[1],
                1.0 if self.gripper_closed else -1.0,
                self.target[0],
                self.target[1],
                self.target_vel[0],
                self.target_vel[1],
            ]
        )

    # -- target from outside -----------------------------------------
    def set_target(self, pos: Any, vel: Any = (0.0, 0.0)) -> None:
        """Place the target now and let it move at constant ``vel`` (m/s) until told otherwise."""
        p = _vec2("target pos", pos)
        v = _vec2("target vel", vel)
        self.target, self.target_vel = p, v
        self.target_mode = TargetMode.CONSTANT
        self._traj_t = self._traj_xy = None

    def release_target(self) -> None:
        """Let the target move by itself again (bouncing in the target box) from where it is now.

        It keeps its heading if it has one; a still target sets off sideways at the
        middle of the speed range (deterministic: the episode's random draws are untouched).
        """
        lo, hi = self.config.target_speed_range_mps
        speed = float(np.linalg.norm(self.target_vel))
        if speed > 1e-9:
            self.target_vel = self.target_vel * (min(max(speed, lo), hi) / speed)
        else:
            self.target_vel = np.array([(lo + hi) / 2, 0.0])
        self.target_mode = TargetMode.BOUNCE
        self._traj_t = self._traj_xy = None

    def set_target_trajectory(self, times_s: Any, positions: Any) -> None:
        """Drive the target along timed waypoints (episode time, s), linearly interpolated.

        Before the first waypoint the target sits there; after the last it stays
        at the last one. ``times_s``: (N,) strictly increasing; ``positions``: (N, 2).
        """
        t = np.asarray(times_s, dtype=np.float64)
        xy = np.asarray(positions, dtype=np.float64)
        if t.ndim != 1 or t.size < 1:
            raise ReachGraspError(f"times_s must be a 1-D array of >= 1 times, got shape {t.shape}")
        if xy.shape != (t.size, 2):
            raise ReachGraspError(f"positions must have shape ({t.size}, 2), got {xy.shape}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(xy))):
            raise ReachGraspError("target trajectory must be finite")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise ReachGraspError("times_s must be strictly increasing")
        self._traj_t, self._traj_xy = t, xy
        self.target_mode = TargetMode.TRAJECTORY
        self.target, self.target_vel = self._trajectory_at(self.time_s)

    def _trajectory_at(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        assert self._traj_t is not None and self._traj_xy is not None
        tt, xy = self._traj_t, self._traj_xy
        pos = np.array([np.interp(t_s, tt, xy[:, 0]), np.interp(t_s, tt, xy[:, 1])])
        if tt.size == 1 or t_s < tt[0] or t_s >= tt[-1]:
            return pos, np.zeros(2)
        i = int(np.searchsorted(tt, t_s, side="right")) - 1
        vel = (xy[i + 1] - xy[i]) / (tt[i + 1] - tt[i])
        return pos, vel

    # -- dynamics ------------------------------------------------------
    def step(self, action: Any, dt_s: float | None = None) -> StepResult:
        """Hold ``action`` for ``dt_s`` seconds (default ``config.control_dt_s``)."""
        cfg = self.config
        dt = cfg.control_dt_s if dt_s is None else dt_s
        if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
            raise ReachGraspError(f"dt_s must be a finite number > 0, got {dt_s!r}")
        act = check_action(action)
        if self.outcome is not Outcome.RUNNING:
            raise ReachGraspError(f"episode is over ({self.outcome.value}); call reset() first")
        reward = 0.0
        # Gripper acts first, at the start of the interval.
        close = bool(act[GRIPPER_INDEX] > 0)
        if close and not self.gripper_closed:
            if np.linalg.norm(self.robot - self.target) <= cfg.grasp_radius_m:
                self.held, self.held_s = True, 0.0
            else:
                self.missed_grasps += 1
                if self.missed_grasps > cfg.max_missed_grasps:
                    self.outcome = Outcome.MISSED_GRASPS
        elif not close and self.held:
            self.held = False  # dropped; the target resumes its own motion
        self.gripper_closed = close
        n_sub = max(1, round(dt / cfg.physics_dt_s))
        h = dt / n_sub
        setpoint = act[:2]
        for _ in range(n_sub):
            if self.outcome is not Outcome.RUNNING:
                break
            self._integrate(setpoint, h)
        if self.outcome is Outcome.RUNNING and self.held and self.held_s >= cfg.hold_s - 1e-9:
            self.outcome = Outcome.SUCCESS
            reward = 1.0
        if self.outcome is Outcome.RUNNING and self.time_s >= cfg.max_time_s - 1e-9:
            self.outcome = Outcome.TIMEOUT
        done = self.outcome is not Outcome.RUNNING
        info = {
            "outcome": self.outcome.value,
            "time_s": self.time_s,
            "held": self.held,
            "missed_grasps": self.missed_grasps,
            "distance_m": float(np.linalg.norm(self.robot - self.target)),
        }
        return StepResult(self.observation(), reward, done, self.outcome is Outcome.SUCCESS, info)

    def _integrate(self, setpoint: np.ndarray, h: float) -> None:
        cfg = self.config
        err = setpoint - self.robot
        vel = cfg.servo_gain_per_s * err
        speed = float(np.linalg.norm(vel))
        if speed > cfg.max_speed_mps:
            vel *= cfg.max_speed_mps / speed
        lim = cfg.workspace_half_m
        self.robot = np.clip(self.robot + vel * h, -lim, lim)
        self.time_s += h
        if np.linalg.norm(self.robot - np.asarray(cfg.obstacle_center)) < cfg.obstacle_radius_m:
            self.outcome = Outcome.COLLISION
            return
        if self.held:
            self.target = self.robot.copy()
            self.target_vel = vel.copy()
            self.held_s += h
        else:
            self._move_target(h)

    def _move_target(self, h: float) -> None:
        if self.target_mode is TargetMode.TRAJECTORY:
            self.target, self.target_vel = self._trajectory_at(self.time_s)
            return
        self.target = self.target + self.target_vel * h
        if self.target_mode is TargetMode.BOUNCE:
            x0, y0, x1, y1 = self.config.target_box
            for axis, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
                if self.target[axis] < lo:
                    self.target[axis] = 2 * lo - self.target[axis]
                    self.target_vel[axis] = abs(self.target_vel[axis])
                elif self.target[axis] > hi:
                    self.target[axis] = 2 * hi - self.target[axis]
                    self.target_vel[axis] = -abs(self.target_vel[axis])

    # -- serialisation -------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (the RNG state included), enough to resume exactly."""
        return {
            "time_s": self.time_s,
            "robot": self.robot.tolist(),
            "gripper_closed": self.gripper_closed,
            "target": self.target.tolist(),
            "target_vel": self.target_vel.tolist(),
            "target_mode": self.target_mode.value,
            "trajectory_t": None if self._traj_t is None else self._traj_t.tolist(),
            "trajectory_xy": None if self._traj_xy is None else self._traj_xy.tolist(),
            "held": self.held,
            "held_s": self.held_s,
            "missed_grasps": self.missed_grasps,
            "outcome": self.outcome.value,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.time_s = float(state["time_s"])
            self.robot = np.asarray(state["robot"], dtype=np.float64).reshape(2)
            self.gripper_closed = bool(state["gripper_closed"])
            self.target = np.asarray(state["target"], dtype=np.float64).reshape(2)
            self.target_vel = np.asarray(state["target_vel"], dtype=np.float64).reshape(2)
            self.target_mode = TargetMode(state["target_mode"])
            tt, txy = state["trajectory_t"], state["trajectory_xy"]
            self._traj_t = None if tt is None else np.asarray(tt, dtype=np.float64)
            self._traj_xy = None if txy is None else np.asarray(txy, dtype=np.float64).reshape(-1, 2)
            self.held = bool(state["held"])
            self.held_s = float(state["held_s"])
            self.missed_grasps = int(state["missed_grasps"])
            self.outcome = Outcome(state["outcome"])
            self._rng = np.random.default_rng()
            self._rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ReachGraspError(f"bad reach-grasp state: {exc}") from exc


def _vec2(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReachGraspError(f"{name} must be numeric (x, y), got {value!r}") from exc
    if arr.shape != (2,):
        raise ReachGraspError(f"{name} must have shape (2,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ReachGraspError(f"{name} must be finite, got {arr.tolist()}")
    return arr.copy()


class ReachGraspExpert:
    """Scripted demonstrator: pick a side, pass the obstacle, intercept, close, hold.

    Multimodal by construction: the side (left/right) is drawn per episode from
    the expert's own RNG. Small set-point noise makes it imperfect.
    """

    def __init__(self, config: ReachGraspConfig | None = None, seed: int = 0, noise_m: float = 0.01) -> None:
        self.config = config or ReachGraspConfig()
        self._rng = np.random.default_rng(seed)
        self.noise_m = noise_m
        self.side = 1.0
        self.passed = False

    def reset(self) -> None:
        self.side = 1.0 if self._rng.random() < 0.5 else -1.0
        self.passed = False

    def act(self, obs: np.ndarray) -> np.ndarray:
        cfg = self.config
        robot, closed, target, tvel = obs[0:2], obs[2] > 0, obs[3:5], obs[5:7]
        oc = np.asarray(cfg.obstacle_center)
        clear_y = oc[1] + cfg.obstacle_radius_m + 0.08  # above the obstacle: any straight path is free
        if not self.passed and robot[1] >= clear_y:
            self.passed = True
        if closed and np.linalg.norm(robot - target) < 1e-6:  # holding: stay put
            return np.array([robot[0], robot[1], 1.0])
        if not self.passed:
            side_x = oc[0] + self.side * (cfg.obstacle_radius_m + 0.28)
            aim = np.array([side_x, oc[1] if robot[1] < oc[1] - 0.05 else clear_y + 0.07])
        else:
            dist = float(np.linalg.norm(target - robot))
            lead_s = min(dist / cfg.max_speed_mps, 0.5) + 0.05
            aim = target + tvel * lead_s
        step = cfg.max_speed_mps * cfg.control_dt_s * 1.5
        delta = aim - robot
        dn = float(np.linalg.norm(delta))
        setpoint = robot + (delta if dn <= step else delta * (step / dn))
        setpoint = setpoint + self._rng.normal(0.0, self.noise_m, 2)
        near = self.passed and float(np.linalg.norm(target - robot)) < 0.5 * cfg.grasp_radius_m
        return np.array([setpoint[0], setpoint[1], 1.0 if near else -1.0])
