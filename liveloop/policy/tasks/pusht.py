"""Push-T (gym-pusht, state observations) behind the reach-and-grasp interface, and a scripted expert.

gym-pusht's ``PushTEnv``: a circular pusher (radius 15) moved by a PD
controller to a set-point pushes a T-shaped block (bar 120×30, stem 30×90) on
a 512×512 table to a fixed goal pose (256, 256, π/4). One ``step`` is 0.1 s
(10 physics sub-steps). Success: the T covers more than 95 % of the goal.

**Observation** (float64, ``(5,)``): pusher x, y; block x, y (body origin, the
middle of the bar's top edge); block angle (rad, in [0, 2π)).
**Action** (``(2,)``): the pusher's set-point x, y in pixels, [0, 512].

The env cannot be deep-copied; `PushT.clone` makes a second env and resets it
to this one's state and velocities (the physics engine's cached contact
impulses are not carried, so a clone in contact can drift slightly).

`PushTExpert` is a greedy pusher with no look-ahead: it scores contact points
on the T's outline by how well pushing there moves the block towards the goal
(translation along the push, rotation from the lever arm about the centre of
mass), walks around the block to the chosen point and pushes. It is imperfect
(see its measured success rate in the checkpoint's meta); only its successful
episodes are kept for training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from liveloop.policy.tasks.reach_grasp import StepResult

OBS_DIM = 5
ACTION_DIM = 2
CONTROL_DT_S = 0.1
MAX_STEPS = 300
GOAL = np.array([256.0, 256.0, math.pi / 4])
COG_BODY = np.array([0.0, 45.0])  # centre of mass in the block's frame

# Contact points on the T's outline (block frame) and their outward normals.
_CONTACTS: list[tuple[tuple[float, float], tuple[float, float]]] = (
    [((x, 0.0), (0.0, -1.0)) for x in (-50.0, -30.0, -10.0, 10.0, 30.0, 50.0)]
    + [((x, 30.0), (0.0, 1.0)) for x in (-50.0, -30.0, 30.0, 50.0)]
    + [((-60.0, 15.0), (-1.0, 0.0)), ((60.0, 15.0), (1.0, 0.0))]
    + [((-15.0, y), (-1.0, 0.0)) for y in (50.0, 80.0, 110.0)]
    + [((15.0, y), (1.0, 0.0)) for y in (50.0, 80.0, 110.0)]
    + [((x, 120.0), (0.0, 1.0)) for x in (-8.0, 8.0)]
)


class PushTError(ValueError):
    """Bad input to the Push-T wrapper."""


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class PushT:
    """gym-pusht's env with ``reset(seed) -> obs`` and ``step(action) -> StepResult``."""

    def __init__(self) -> None:
        from gym_pusht.envs import PushTEnv

        self.env = PushTEnv(obs_type="state")
        self.steps = 0
        self.coverage = 0.0
        self.max_coverage = 0.0

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self.steps = 0
        self.coverage = self.max_coverage = float(self.env._get_coverage())
        return np.asarray(obs, dtype=np.float64)

    def state(self) -> np.ndarray:
        return np.asarray(self.env.get_obs(), dtype=np.float64)

    def set_state(self, state: Any) -> np.ndarray:
        st = np.asarray(state, dtype=np.float64)
        if st.shape != (OBS_DIM,) or not np.all(np.isfinite(st)):
            raise PushTError(f"state must be 5 finite numbers [ax, ay, bx, by, angle], got {st.tolist()}")
        self.env.reset(options={"reset_to_state": st})
        # gym-pusht sets the position before the angle, and the angle turns the body about its centre of mass,
        # which moves the position: set them again in the other order so the state is exactly `state`.
        block = self.env.block
        block.angle = float(st[4])
        block.position = (float(st[2]), float(st[3]))
        block.velocity = (0.0, 0.0)
        block.angular_velocity = 0.0
        return self.state()

    def clone(self) -> PushT:
        twin = PushT()
        twin.set_state(self.state())
        src, dst = self.env, twin.env
        dst.agent.velocity = src.agent.velocity
        dst.block.velocity = src.block.velocity
        dst.block.angular_velocity = src.block.angular_velocity
        twin.steps, twin.coverage, twin.max_coverage = self.steps, self.coverage, self.max_coverage
        return twin

    def step(self, action: Any, dt_s: float | None = None) -> StepResult:
        if dt_s is not None and abs(dt_s - CONTROL_DT_S) > 1e-9:
            raise PushTError(f"Push-T steps are {CONTROL_DT_S} s, got dt_s={dt_s}")
        try:
            act = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PushTError(f"action must be numeric [x, y], got {action!r}") from exc
        if act.shape != (ACTION_DIM,):
            raise PushTError(f"action must have shape (2,) = [x, y], got shape {act.shape}")
        if not np.all(np.isfinite(act)):
            raise PushTError(f"action must be finite, got {act.tolist()}")
        obs, reward, terminated, _, info = self.env.step(np.clip(act, 0.0, 512.0))
        self.steps += 1
        self.coverage = float(info["coverage"])
        self.max_coverage = max(self.max_coverage, self.coverage)
        success = bool(terminated)
        done = success or self.steps >= MAX_STEPS
        out = {"coverage": self.coverage, "max_coverage": self.max_coverage, "steps": self.steps}
        return StepResult(np.asarray(obs, dtype=np.float64), float(reward), done, success, out)


def _reachable(i: int, pos: np.ndarray, rot: np.ndarray) -> bool:
    """The pusher fits at the contact's approach point (not squeezed against a wall)."""
    pb, nb = _CONTACTS[i]
    pre = pos + rot @ np.asarray(pb) + rot @ np.asarray(nb) * 22.0
    return bool(np.all(pre > 22.0) and np.all(pre < 490.0))


class PushTExpert:
    """Greedy scripted pusher (see the module docstring)."""

    def __init__(self, seed: int = 0, noise_px: float = 1.0) -> None:
        self._rng = np.random.default_rng(seed)
        self.noise_px = noise_px
        self.contact: int | None = None
        self.push_steps = 0
        self.approach_steps = 0
        self.banned: set[int] = set()

    def reset(self) -> None:
        self.contact = None
        self.push_steps = 0
        self.approach_steps = 0
        self.banned = set()

    def _score(self, i: int, pos: np.ndarray, theta: float) -> float:
        (pb, nb) = _CONTACTS[i]
        rot = _rot(theta)
        n_w = rot @ np.asarray(nb)
        d = -n_w  # push direction
        r = rot @ (np.asarray(pb) - COG_BODY)  # lever arm from the centre of mass
        cog = pos + rot @ COG_BODY
        goal_cog = GOAL[:2] + _rot(GOAL[2]) @ COG_BODY
        e = goal_cog - cog
        dist = float(np.linalg.norm(e))
        dth = wrap_angle(GOAL[2] - theta)
        torque = float(r[0] * d[1] - r[1] * d[0]) / 60.0  # ~ rotation per unit push (normalised)
        trans = float(d @ e) / max(dist, 1e-6)
        w_rot = min(1.0, abs(dth) / 0.3) * (1.5 if dist < 40 else 0.7)
        w_trans = min(1.0, dist / 30.0)
        return w_trans * trans + w_rot * math.copysign(1.0, dth) * torque - 0.3 * (1 - w_trans) * abs(trans)

    def act(self, obs: np.ndarray) -> np.ndarray:
        agent, pos, theta = obs[0:2], obs[2:4], float(obs[4])
        rot = _rot(theta)
        cog = pos + rot @ COG_BODY
        dist = float(np.linalg.norm(GOAL[:2] + _rot(GOAL[2]) @ COG_BODY - cog))
        dth = abs(wrap_angle(GOAL[2] - theta))
        fine = dist < 15.0 and dth < 0.3
        if self.approach_steps > 15 and self.contact is not None:  # cannot get there (a wall): try another
            self.banned.add(self.contact)
            self.contact = None
        if self.contact is None or self.push_steps >= (2 if fine else 4):
            scores = [
                -math.inf if i in self.banned or not _reachable(i, pos, rot) else self._score(i, pos, theta)
                for i in range(len(_CONTACTS))
            ]
            if self.push_steps > 0:
                self.banned.clear()  # a push happened: the block moved, every contact is worth a new look
            self.contact = int(np.argmax(scores))
            self.push_steps = 0
            self.approach_steps = 0
        pb, nb = _CONTACTS[self.contact]
        c_w = pos + rot @ np.asarray(pb)
        n_w = rot @ np.asarray(nb)
        pre = c_w + n_w * 22.0
        to_pre = pre - agent
        if np.linalg.norm(to_pre) < 8.0 or self.push_steps > 0:  # in place: push through the contact
            self.push_steps += 1
            target = c_w - n_w * float(np.clip(0.5 * dist + 30.0 * dth, 2.0, 12.0))
        else:
            self.approach_steps += 1
            target = self._route(agent, pre, cog)
        step = target - agent
        n = float(np.linalg.norm(step))
        if n > 40.0:
            target = agent + step * (40.0 / n)
        target = target + self._rng.normal(0.0, self.noise_px, 2)
        return np.clip(target, 10.0, 502.0)

    @staticmethod
    def _route(agent: np.ndarray, pre: np.ndarray, cog: np.ndarray) -> np.ndarray:
        """Next waypoint to ``pre`` that keeps clear of the block (walk around a circle about its centre)."""
        radius = 112.0
        a_vec, p_vec = agent - cog, pre - cog
        seg = pre - agent
        t = float(np.clip(np.dot(cog - agent, seg) / max(float(seg @ seg), 1e-9), 0.0, 1.0))
        closest = agent + t * seg
        if np.linalg.norm(closest - cog) > 95.0 or np.linalg.norm(p_vec) > np.linalg.norm(a_vec) + 30:
            return pre
        ang_a = math.atan2(a_vec[1], a_vec[0])
        ang_p = math.atan2(p_vec[1], p_vec[0])
        delta = wrap_angle(ang_p - ang_a)
        if abs(delta) < math.radians(25):  # outside the block at about the right bearing: go in
            return pre
        step = min(abs(delta), math.radians(35))
        for sign in (math.copysign(1.0, delta), -math.copysign(1.0, delta)):  # the short way round, else the long
            ang = ang_a + sign * step
            way = cog + radius * np.array([math.cos(ang), math.sin(ang)])
            if np.all(way > 20.0) and np.all(way < 492.0):
                return way
        return pre
