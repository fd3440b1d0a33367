"""Push-T (gym-pusht, state observations) behind the reach-and-grasp interface, and a planning scripted expert.

gym-pusht's ``PushTEnv``: a circular pusher (radius 15) moved by a PD
controller to a set-point pushes a T-shaped block (bar 120×30, stem 30×90) on
a 512×512 table to a fixed goal pose (256, 256, π/4). One ``step`` is 0.1 s
(10 physics sub-steps). Success: the T covers more than 95 % of the goal.

The physics, as gym-pusht sets it up: the space's damping is 0, so the block
loses its velocity every sub-step and moves only while it is pushed
(quasi-static); its shapes have friction 0, so the pusher's contact force is
along the block's surface normal (mass 1, moment 3000, centre of mass at
(0, 45) in the block's frame).

**Observation** (float64, ``(8,)``): pusher x, y; then x, y of three keypoints
of the block — the bar's two top corners (block frame (∓60, 0)) and the stem's
foot (0, 120) — in table pixels. Every point fixed to the block (a contact
point, the centre of mass) is then an affine function of the observation, and
there is no angle to wrap (gym-pusht's angle jumps at 2π). Diffusion Policy's
low-dimensional Push-T uses keypoints likewise. `PushT.state` is gym-pusht's
``(5,)`` state ``[ax, ay, bx, by, angle]``; `block_pose` reads the pose back.
**Action** (``(2,)``): the pusher's set-point relative to where the pusher is
now, dx, dy in pixels (the set-point, clipped to the table, is pusher + action).
Relative set-points make the policy's targets translation-invariant and small
(the expert's stay within about ±45 px, where absolute ones span the table's
512 px): the same normalised error of the network is ~10× fewer pixels.

The env cannot be deep-copied; `PushT.clone` makes a second env and resets it
to this one's state and velocities (the physics engine's cached contact
impulses are not carried, so a clone in contact can drift slightly).

`PushTExpert` plans one push at a time (a greedy, one-push-deep planner):

1. every contact point on the T's outline (a fixed list, body frame) whose
   start point — the pusher 4 px off the surface — is free and inside the
   walls is ranked by the rigid-body model of a frictionless push (impulse
   along the normal: the centre of mass moves along the push, the block turns
   by the lever arm) by how much a short push cuts the keypoint error (mean
   distance of the T's corners and centre of mass from where they are at the
   goal);
2. the best few are simulated in a second gym-pusht env (`PushSim`, a physics
   model: teleport, push along the inward normal for up to 8 steps, read the
   block back) and the push with the lowest error after it, plus a small
   charge per pixel of travel to its start, wins;
3. the pusher walks to the start along the shortest clear path round the T
   (`route`: a visibility graph on points off its corners), settles, pushes
   the planned number of steps, backs off, and plans again.

Pushes slow down (4 px per step) once the error is below 15 px, for the last
few pixels of the 95 %. Its measured success rate is in the checkpoint's meta;
only successful episodes are kept for training.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from liveloop.policy.tasks.reach_grasp import StepResult

OBS_DIM = 8
STATE_DIM = 5
ACTION_DIM = 2
CONTROL_DT_S = 0.1
MAX_STEPS = 300
GOAL = np.array([256.0, 256.0, math.pi / 4])
COG_BODY = np.array([0.0, 45.0])  # centre of mass in the block's frame
MASS, MOMENT = 1.0, 3000.0  # the block's, as gym-pusht builds it
PUSHER_R = 15.0
TABLE_LO, TABLE_HI = 23.0, 488.0  # where the pusher's centre fits inside the walls (with 1 px to spare)
# Keypoints (block frame): the outline's corners and the centre of mass.
KEYPOINTS = np.array([[-60, 0], [60, 0], [60, 30], [-60, 30], [-15, 120], [15, 120], [0, 45]], dtype=np.float64)
OBS_KEYPOINTS = np.array([[-60.0, 0.0], [60.0, 0.0], [0.0, 120.0]])  # block frame: in the observation
RECTS = np.array([[-60.0, 0.0, 60.0, 30.0], [-15.0, 30.0, 15.0, 120.0]])  # the T: bar, stem (xmin, ymin, xmax, ymax)


def _contacts() -> tuple[np.ndarray, np.ndarray]:
    """Contact points on the T's outline (block frame) and their outward normals."""
    pts: list[tuple[float, float]] = []
    nrm: list[tuple[float, float]] = []

    def add(points: list[tuple[float, float]], normal: tuple[float, float]) -> None:
        pts.extend(points)
        nrm.extend([normal] * len(points))

    add([(x, 0.0) for x in (-55.0, -42.0, -28.0, -14.0, 0.0, 14.0, 28.0, 42.0, 55.0)], (0.0, -1.0))  # bar's top
    add([(x, 30.0) for x in (-55.0, -44.0, -34.0, 34.0, 44.0, 55.0)], (0.0, 1.0))  # under the bar, beside the stem
    for s in (-1.0, 1.0):
        add([(60.0 * s, y) for y in (6.0, 15.0, 24.0)], (s, 0.0))  # bar's ends
        add([(15.0 * s, y) for y in (50.0, 65.0, 80.0, 95.0, 110.0)], (s, 0.0))  # stem's sides
    add([(x, 120.0) for x in (-10.0, 0.0, 10.0)], (0.0, 1.0))  # stem's foot
    return np.asarray(pts), np.asarray(nrm)


CONTACT_PTS, CONTACT_NRM = _contacts()  # (C, 2) each
# Waypoints round the T (block frame): off its convex corners, farther than CLEAR from it.
_WAYPOINTS = np.array([[-82.0, -22.0], [82.0, -22.0], [82.0, 52.0], [-82.0, 52.0], [-37.0, 142.0], [37.0, 142.0]])
CLEAR = PUSHER_R + 3.0  # the pusher's centre keeps this far from the T while walking round it


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def obs_from_state(state: np.ndarray) -> np.ndarray:
    """gym-pusht's (5,) state -> the (8,) observation (pusher, then the block's keypoints)."""
    st = np.asarray(state, dtype=np.float64)
    return np.concatenate([st[:2], to_world(st[2:5], OBS_KEYPOINTS).ravel()])


def block_pose(obs: np.ndarray) -> np.ndarray:
    """(3,) block x, y, angle from an (8,) observation."""
    left, right = np.asarray(obs[2:4]), np.asarray(obs[4:6])
    origin = 0.5 * (left + right)
    bar = right - left  # along the block's x axis
    return np.array([origin[0], origin[1], math.atan2(bar[1], bar[0])])


def to_world(pose: np.ndarray, pts_body: np.ndarray) -> np.ndarray:
    """(N, 2) block-frame points -> world, for the block at ``pose`` (x, y, angle)."""
    return pose[:2] + pts_body @ _rot(float(pose[2])).T


def keypoint_error(pose: np.ndarray) -> float:
    """Mean distance (px) of the T's keypoints from where they are at the goal."""
    return float(np.linalg.norm(to_world(pose, KEYPOINTS) - _GOAL_KEYPOINTS, axis=1).mean())


_GOAL_KEYPOINTS = to_world(GOAL, KEYPOINTS)


def dist_to_t(pose: np.ndarray, pts_world: np.ndarray) -> np.ndarray:
    """(N,) distance (px) from world points (N, 2) to the T at ``pose`` (0 inside)."""
    b = (np.atleast_2d(pts_world) - pose[:2]) @ _rot(float(pose[2]))  # (N, 2) in the block's frame
    out = np.full(len(b), np.inf)
    for x0, y0, x1, y1 in RECTS:
        dx = np.maximum(np.maximum(x0 - b[:, 0], b[:, 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - b[:, 1], b[:, 1] - y1), 0.0)
        out = np.minimum(out, np.hypot(dx, dy))
    return out


def segment_clear(pose: np.ndarray, a: np.ndarray, b: np.ndarray, clearance: float) -> bool:
    """Every point of the segment a→b (sampled every 4 px) is farther than ``clearance`` from the T."""
    n = max(2, int(np.linalg.norm(b - a) / 4.0) + 1)
    pts = a + np.linspace(0.0, 1.0, n)[:, None] * (b - a)
    return bool(np.all(dist_to_t(pose, pts) > clearance))


def route(pose: np.ndarray, agent: np.ndarray, goal: np.ndarray) -> list[np.ndarray] | None:
    """Shortest clear path from ``agent`` to ``goal`` round the T (waypoints after ``agent``), or None."""
    if segment_clear(pose, agent, goal, CLEAR):
        return [goal]
    ways = [w for w in to_world(pose, _WAYPOINTS) if np.all((w > TABLE_LO) & (w < TABLE_HI))]
    nodes = [agent, *ways, goal]
    n = len(nodes)
    dist, prev, done = [math.inf] * n, [-1] * n, [False] * n
    dist[0] = 0.0
    for _ in range(n):  # Dijkstra on at most 8 nodes; edges checked lazily
        u = min((i for i in range(n) if not done[i]), key=lambda i: dist[i])
        if dist[u] == math.inf or u == n - 1:
            break
        done[u] = True
        for v in range(1, n):
            d = dist[u] + float(np.linalg.norm(nodes[v] - nodes[u]))
            if not done[v] and d < dist[v] and segment_clear(pose, nodes[u], nodes[v], CLEAR):
                dist[v], prev[v] = d, u
    if dist[-1] == math.inf:
        return None
    path, v = [], n - 1
    while v > 0:
        path.append(nodes[v])
        v = prev[v]
    return path[::-1]


def path_length(agent: np.ndarray, path: list[np.ndarray]) -> float:
    return float(np.linalg.norm(np.diff(np.vstack([agent, *path]), axis=0), axis=1).sum())


class PushTError(ValueError):
    """Bad input to the Push-T wrapper."""


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
        return obs_from_state(obs)

    def state(self) -> np.ndarray:
        """gym-pusht's (5,) state [ax, ay, bx, by, angle] (what `set_state` takes)."""
        return np.asarray(self.env.get_obs(), dtype=np.float64)

    def set_state(self, state: Any) -> np.ndarray:
        """Reset to gym-pusht's (5,) ``state``, at rest; -> the state read back."""
        st = np.asarray(state, dtype=np.float64)
        if st.shape != (STATE_DIM,) or not np.all(np.isfinite(st)):
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
            raise PushTError(f"action must be numeric [dx, dy], got {action!r}") from exc
        if act.shape != (ACTION_DIM,):
            raise PushTError(f"action must have shape (2,) = [dx, dy], got shape {act.shape}")
        if not np.all(np.isfinite(act)):
            raise PushTError(f"action must be finite, got {act.tolist()}")
        setpoint = np.asarray(self.env.agent.position, dtype=np.float64) + act
        obs, reward, terminated, _, info = self.env.step(np.clip(setpoint, 0.0, 512.0))
        self.steps += 1
        self.coverage = float(info["coverage"])
        self.max_coverage = max(self.max_coverage, self.coverage)
        success = bool(terminated)
        done = success or self.steps >= MAX_STEPS
        out = {"coverage": self.coverage, "max_coverage": self.max_coverage, "steps": self.steps}
        return StepResult(obs_from_state(obs), float(reward), done, success, out)


class PushSim:
    """A second gym-pusht env used as a physics model: teleport pusher and block, push, read the block back."""

    def __init__(self) -> None:
        from gym_pusht.envs import PushTEnv

        self.env = PushTEnv(obs_type="state")
        self.env.reset(seed=0)

    def rollout(self, agent: np.ndarray, pose: np.ndarray, setpoints: np.ndarray) -> np.ndarray:
        """Block poses (K, 3) after each of the (K, 2) set-points (one control step each), the pusher at rest."""
        from pymunk import Vec2d

        env = self.env
        blk, ag = env.block, env.agent
        blk.angle = float(pose[2])  # angle first: it turns the body about its centre of mass
        blk.position = (float(pose[0]), float(pose[1]))
        blk.velocity, blk.angular_velocity = (0.0, 0.0), 0.0
        ag.position, ag.velocity = (float(agent[0]), float(agent[1])), (0.0, 0.0)
        out = np.empty((len(setpoints), 3))
        zero = Vec2d(0.0, 0.0)
        n_sub = round(CONTROL_DT_S / env.dt)
        for k, sp in enumerate(setpoints):  # gym-pusht's step without the coverage and the observation
            target = Vec2d(float(sp[0]), float(sp[1]))
            for _ in range(n_sub):
                ag.velocity += (env.k_p * (target - ag.position) + env.k_v * (zero - ag.velocity)) * env.dt
                env.space.step(env.dt)
            out[k] = (blk.position.x, blk.position.y, blk.angle)
        return out


class Phase(enum.Enum):
    PLAN = "plan"  # choose the next push (this step)
    APPROACH = "approach"  # walk round the T to the push's start and settle there
    PUSH = "push"  # play the planned set-points, then back off


class PushTExpert:
    """The planning pusher (see the module docstring). ``act(obs) -> relative set-point``; state between calls."""

    GAP_PX = 4.0  # between the pusher's rim and the block at a push's start
    SPEED_PX = 8.0  # set-point advance per step while pushing (half that once the error is below FINE_PX)
    FINE_PX = 15.0
    MAX_PUSH_STEPS = 8
    N_SIMULATED = 6  # candidates simulated per plan (the model's best)
    TRAVEL_COST = 0.015  # keypoint-error px charged per px of walking to a push's start
    MAX_APPROACH_STEPS = 30  # then that contact is set aside and the expert plans again
    MAX_STEP_PX = 35.0  # walking set-points at most this far ahead of the pusher

    def __init__(self, seed: int = 0, noise_px: float = 0.0) -> None:
        self._rng = np.random.default_rng(seed)
        self.noise_px = noise_px
        self.sim = PushSim()
        self.reset()

    def reset(self) -> None:
        self.phase = Phase.PLAN
        self.start: np.ndarray | None = None  # (2,) where the pusher waits, at rest, before the push
        self.plan: np.ndarray | None = None  # (K, 2) push set-points, then backing off
        self.contact = -1
        self.k = 0
        self.approach_steps = 0
        self.stalls = 0  # plans in a row that found no improving push
        self.banned: set[int] = set()  # contacts that could not be reached since the last push
        self.prev_agent: np.ndarray | None = None
        self._agent = np.zeros(2)

    def _ranked(self, pose: np.ndarray) -> list[int]:
        """Free contacts, best first by the frictionless rigid-body model of a short push."""
        rot = _rot(float(pose[2]))
        c_w = to_world(pose, CONTACT_PTS)  # (C, 2)
        n_w = CONTACT_NRM @ rot.T
        start = c_w + n_w * (PUSHER_R + self.GAP_PX)
        free = np.all((start > TABLE_LO) & (start < TABLE_HI), axis=1)
        free &= dist_to_t(pose, start) > PUSHER_R + self.GAP_PX - 0.5  # not in a corner of the T
        cog = to_world(pose, COG_BODY[None])[0]
        lever = c_w - cog
        push = -n_w
        arm = lever[:, 0] * push[:, 1] - lever[:, 1] * push[:, 0]
        impulse = 1.0 / (1.0 / MASS + arm**2 / MOMENT)  # per px the contact point moves along the push
        base = keypoint_error(pose)
        probe_px = 6.0
        gains = []
        for i in np.flatnonzero(free):
            theta = pose[2] + impulse[i] * arm[i] / MOMENT * probe_px
            origin = cog + push[i] * impulse[i] / MASS * probe_px - _rot(float(theta)) @ COG_BODY
            gains.append((base - keypoint_error(np.array([origin[0], origin[1], theta])), int(i)))
        gains.sort(reverse=True)
        return [i for _, i in gains if i not in self.banned]

    def _plan(self, agent: np.ndarray, pose: np.ndarray) -> bool:
        ranked = self._ranked(pose)
        picked = ranked[: self.N_SIMULATED]
        if self.stalls:  # the model's favourites do not help: simulate some others too
            rest = ranked[self.N_SIMULATED :]
            self._rng.shuffle(rest)
            picked += rest[: self.N_SIMULATED]
        base = keypoint_error(pose)
        speed = self.SPEED_PX * (0.5 if base < self.FINE_PX else 1.0)
        rot = _rot(float(pose[2]))
        best: tuple[float, np.ndarray, np.ndarray, int] | None = None
        for i in picked:
            n_w = rot @ CONTACT_NRM[i]
            start = pose[:2] + rot @ CONTACT_PTS[i] + n_w * (PUSHER_R + self.GAP_PX)
            setpoints = start - n_w * speed * np.arange(1, self.MAX_PUSH_STEPS + 1)[:, None]
            errors = [keypoint_error(p) for p in self.sim.rollout(start, pose, setpoints)]
            k = int(np.argmin(errors))
            if errors[k] >= base - 0.05:
                continue
            path = route(pose, agent, start)
            if path is None:
                continue
            cost = errors[k] + self.TRAVEL_COST * path_length(agent, path)
            if best is None or cost < best[0]:
                back_off = setpoints[k] + n_w * speed * 2.5
                best = (cost, start, np.vstack([setpoints[: k + 1], back_off, start]), i)
        if best is None:
            return False
        _, self.start, self.plan, self.contact = best
        self.banned.clear()
        return True

    def act(self, obs: np.ndarray) -> np.ndarray:
        """-> the set-point relative to the pusher (the task's action)."""
        agent = np.asarray(obs[:2], dtype=np.float64)
        self._agent = agent
        pose = block_pose(obs)
        vel = np.zeros(2) if self.prev_agent is None else agent - self.prev_agent  # px per step
        self.prev_agent = agent
        if self.phase is Phase.PLAN:
            if not self._plan(agent, pose):
                self.stalls += 1
                return self._out(agent + self._rng.normal(0.0, 10.0, 2))  # jiggle and look again
            self.phase, self.approach_steps, self.stalls = Phase.APPROACH, 0, 0
        if self.phase is Phase.APPROACH:
            assert self.start is not None
            self.approach_steps += 1
            if self.approach_steps > self.MAX_APPROACH_STEPS:
                self.banned.add(self.contact)
                self.phase = Phase.PLAN
                return self._out(agent)
            if np.linalg.norm(agent - self.start) >= 2.0 or np.linalg.norm(vel) >= 1.5:
                return self._out(self._walk(agent, pose))
            self.phase, self.k = Phase.PUSH, 0
        assert self.plan is not None
        target = self.plan[self.k]
        self.k += 1
        if self.k == len(self.plan):
            self.phase = Phase.PLAN
        return self._out(target)

    def _walk(self, agent: np.ndarray, pose: np.ndarray) -> np.ndarray:
        assert self.start is not None
        path = route(pose, agent, self.start)
        if path is None:  # boxed in between the T and a wall: back away from the block
            away = agent - to_world(pose, COG_BODY[None])[0]
            return agent + 20.0 * away / max(float(np.linalg.norm(away)), 1e-6)
        step = path[0] - agent
        n = float(np.linalg.norm(step))
        return path[0] if n <= self.MAX_STEP_PX else agent + step * (self.MAX_STEP_PX / n)

    def _out(self, target: np.ndarray) -> np.ndarray:
        if self.noise_px > 0:
            target = target + self._rng.normal(0.0, self.noise_px, 2)
        return np.clip(target, 10.0, 502.0) - self._agent
