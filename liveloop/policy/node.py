"""`Policy`: the diffusion policy as a graph node — observations in, timed action chunks out.

    robot state ──observations (latest)──► policy.Policy ──actions──► robots (a fixed-rate loop)

Each observation event is one control step: the core appends it to its window
of the last ``n_obs`` observations, makes one RTI decision and emits an
`ActionChunk`: the actions from the current step on, each with the time it is
meant for, ``origin_ns + k · dt`` (``origin_ns`` = when the observation was
captured, ``dt`` = the policy's control period). A robot loop plays them by
time and uses the later ones if the next chunk is late.

**Knob.** The number of network evaluations of a warm decision: 3, 2 or 1
(``Mode`` params ``max_nfe``; the runtime picks the best that fits the time
left on the observation's budget, e.g. 20 ms for a 50 Hz loop). The first
decision of an episode denoises from noise (``PolicyNodeConfig.cold``: the RTI
scheme's full DDPM denoise, or DDIM-10 to meet the same budget); send an
INTERRUPT (or call `PolicyCore.reset`) at an episode boundary.

The edge is latest-wins: while a decision runs, newer observations replace
older ones. A bad observation (wrong shape, NaN) is dropped and counted in
``Policy.bad_observations`` with the reason in ``last_error``. The network is
traced at setup (``PolicyNodeConfig.compile``, see `liveloop.policy.compiled`):
a warm decision then takes a few ms and runs on the event loop (a thread hop
and the fight for the GIL would cost more than it does); the full denoise that
starts an episode runs in a worker thread (``offload``). The policy weights are
loaded once per process and shared by every node that names the same checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

import numpy as np

from liveloop.graph import Input, Mode, Node, NodeContext, Output
from liveloop.graph.channel import Latest
from liveloop.graph.clock import NS_PER_S
from liveloop.graph.event import Event
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.rti import ColdStart, DiscreteMode, RtiSampler

log = logging.getLogger(__name__)

POLICY_MODES = (
    Mode("rti3", quality=1.0, cost_hint_ms=15.0, params=(("max_nfe", 3),)),
    Mode("rti2", quality=0.8, cost_hint_ms=10.0, params=(("max_nfe", 2),)),
    Mode("rti1", quality=0.6, cost_hint_ms=5.0, params=(("max_nfe", 1),)),
)


class BadObservation(ValueError):
    """An observation the policy cannot use (wrong type, shape, or not finite)."""


@dataclass(frozen=True, slots=True)
class PolicyNodeConfig:
    checkpoint: str = "reach_grasp"  # a shipped name or a path
    variant: DiscreteMode = DiscreteMode.NONE  # SCALE needs a *_scale checkpoint
    seed: int = 0
    torch_threads: int | None = None  # set torch's intra-op threads at setup (None: leave as is)
    compile: bool = True  # trace the net and the warm chains at setup (batch 1)
    cold: ColdStart = ColdStart.DDPM100  # an episode's first decision (DDIM10: fits a 20 ms budget too)

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ValueError("checkpoint must be a name or a path, got ''")
        if not isinstance(self.variant, DiscreteMode):
            raise ValueError(f"variant must be a DiscreteMode, got {self.variant!r}")
        if not isinstance(self.cold, ColdStart):
            raise ValueError(f"cold must be a ColdStart, got {self.cold!r}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1 or None, got {self.torch_threads}")


@dataclass(frozen=True, slots=True)
class ActionChunk:
    """Actions from the current control step on, each with its target time."""

    origin_ns: int  # capture time of the observation the decision used
    decided_ns: int  # when the decision started
    actions: np.ndarray  # (n, action_dim), raw units (reach_grasp: [x, y, gripper ±1])
    times_ns: np.ndarray  # (n,) int64: origin_ns + k · dt_ns
    dt_ns: int
    nfe: int  # network evaluations this decision took
    first: bool  # the episode's first (full) decision


class PolicyCore:
    """Sans-I/O: ``feed(obs, origin_ns, now_ns, max_nfe) -> ActionChunk``; ``reset()`` between episodes."""

    def __init__(
        self,
        policy: DiffusionPolicy,
        variant: DiscreteMode = DiscreteMode.NONE,
        seed: int = 0,
        cold: ColdStart = ColdStart.DDPM100,
    ) -> None:
        self.policy = policy
        self.sampler = RtiSampler(policy, variant, seed=seed, cold=cold)
        cfg = policy.config
        self.dt_ns = round(cfg.control_dt_s * NS_PER_S)
        self._window: np.ndarray | None = None  # (n_obs, obs_dim)

    def reset(self) -> None:
        self.sampler.reset()
        self._window = None

    def next_is_cheap(self) -> bool:
        """Is the next decision a warm RTI step or a DDIM-10 cold start (a few ms), not DDPM-100's 100 NFE?"""
        return self.sampler.prev_clean is not None or self.sampler.cold is not ColdStart.DDPM100

    def check(self, obs: object) -> np.ndarray:
        dim = self.policy.config.obs_dim
        try:
            arr = np.asarray(obs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BadObservation(f"observation must be numeric, got {type(obs).__name__}") from exc
        if arr.shape != (dim,):
            raise BadObservation(f"observation must have shape ({dim},), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise BadObservation("observation must be finite")
        return arr

    def feed(self, obs: object, origin_ns: int, now_ns: int, max_nfe: int | None = None) -> ActionChunk:
        arr = self.check(obs)
        cfg = self.policy.config
        if self._window is None:
            self._window = np.repeat(arr[None], cfg.n_obs, axis=0)
        else:
            self._window = np.concatenate([self._window[1:], arr[None]], axis=0)
        first = self.sampler.prev_clean is None
        chunk = self.sampler.decide(self._window[None], max_nfe=max_nfe)[0]  # (H, A)
        acts = chunk[cfg.first_executed :]
        times = origin_ns + self.dt_ns * np.arange(len(acts), dtype=np.int64)
        return ActionChunk(origin_ns, now_ns, acts, times, self.dt_ns, self.sampler.last_nfe, first)


_SHARED: dict[str, DiffusionPolicy] = {}
_SHARED_LOCK = threading.Lock()


def shared_policy(checkpoint: str) -> DiffusionPolicy:
    """One loaded policy per checkpoint per process (samplers keep per-node state, the weights are shared)."""
    with _SHARED_LOCK:
        if checkpoint not in _SHARED:
            _SHARED[checkpoint] = DiffusionPolicy.load(checkpoint)
        return _SHARED[checkpoint]


class Policy(Node):
    """Diffusion policy with the RTI sampler; denoising steps are the knob."""

    observations = Input(object, Latest(), doc="np.ndarray (obs_dim,); origin_ns = capture time")
    actions = Output(ActionChunk, doc="actions from now on with their target times")
    modes = POLICY_MODES

    def __init__(self, config: PolicyNodeConfig | None = None, name: str | None = None, *, offload: bool = True):
        """``offload``: run full denoises (slow) in a worker thread; warm decisions always run on the loop."""
        super().__init__(name or "policy")
        self.config = config or PolicyNodeConfig()
        self.offload = offload
        self.core: PolicyCore | None = None
        self.bad_observations = 0
        self.last_error: str | None = None

    async def setup(self, ctx: NodeContext) -> None:
        if self.config.torch_threads is not None:
            import torch

            torch.set_num_threads(self.config.torch_threads)
        policy = await asyncio.to_thread(shared_policy, self.config.checkpoint)
        self.core = PolicyCore(policy, self.config.variant, self.config.seed, self.config.cold)
        if self.config.compile:
            await asyncio.to_thread(self.core.sampler.compile, 1)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        core = self.core
        if core is None:
            raise RuntimeError(f"node {self.name!r}: process() before setup()")
        max_nfe = int(ctx.mode.param("max_nfe", 3)) if ctx.mode is not None else None
        try:
            if self.offload and not core.next_is_cheap():
                chunk = await asyncio.to_thread(core.feed, event.data, event.origin_ns, ctx.now_ns(), max_nfe)
            else:
                chunk = core.feed(event.data, event.origin_ns, ctx.now_ns(), max_nfe)
        except BadObservation as exc:
            self.bad_observations += 1
            self.last_error = f"node {self.name!r} dropped observation seq {event.seq} from {event.source!r}: {exc}"
            log.warning(self.last_error)
            return
        await ctx.emit("actions", chunk, parent=event)

    async def on_interrupt(self, event: Event, ctx: NodeContext) -> None:
        if self.core is not None:
            self.core.reset()  # a new episode: the next decision is a full denoise
