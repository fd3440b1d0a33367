"""`PolicyCore` without a loop, and the `Policy` node in a running graph (NodeHarness, virtual clock).

Both run the shipped, trained reach-and-grasp checkpoint.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.graph.clock import NS_PER_S
from liveloop.policy.model import DiffusionPolicy
from liveloop.policy.node import BadObservation, Policy, PolicyCore, PolicyNodeConfig
from liveloop.policy.rti import DiscreteMode
from liveloop.policy.tasks.reach_grasp import ReachGrasp
from liveloop.testing import NodeHarness


@pytest.fixture(scope="module")
def shipped() -> DiffusionPolicy:
    return DiffusionPolicy.load("reach_grasp")


def test_core_times_and_knob(shipped: DiffusionPolicy) -> None:
    core = PolicyCore(shipped, seed=0)
    env = ReachGrasp()
    obs = env.reset(3)
    origin = 5 * NS_PER_S
    first = core.feed(obs, origin, origin + 1000)
    cfg = shipped.config
    assert first.first and first.nfe == 100
    assert first.actions.shape == (cfg.horizon - cfg.n_obs + 1, 3)
    assert first.dt_ns == round(cfg.control_dt_s * NS_PER_S)
    assert np.array_equal(first.times_ns, origin + first.dt_ns * np.arange(len(first.actions)))
    assert set(np.unique(first.actions[:, 2])) <= {-1.0, 1.0}
    obs = env.step(first.actions[0]).obs
    warm = core.feed(obs, origin + first.dt_ns, origin + first.dt_ns)
    assert not warm.first and warm.nfe == len(shipped.rti.timesteps) <= 3
    cheap = core.feed(env.step(warm.actions[0]).obs, origin + 2 * first.dt_ns, 0, max_nfe=1)
    assert cheap.nfe == 1
    core.reset()
    assert core.feed(obs, origin, origin).nfe == 100


@pytest.mark.parametrize("bad", [np.zeros(6), np.full(7, np.nan), "obs", None])
def test_core_rejects_bad_observations(shipped: DiffusionPolicy, bad: object) -> None:
    with pytest.raises(BadObservation):
        PolicyCore(shipped).feed(bad, 0, 0)


def test_node_config_validation() -> None:
    with pytest.raises(ValueError, match="torch_threads"):
        PolicyNodeConfig(torch_threads=0)
    with pytest.raises(ValueError, match="checkpoint"):
        PolicyNodeConfig(checkpoint="")
    with pytest.raises(ValueError, match="variant"):
        PolicyNodeConfig(variant="scale")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cold must be a ColdStart"):
        PolicyNodeConfig(cold="ddim10")  # type: ignore[arg-type]


async def test_node_in_a_graph_emits_timed_chunks() -> None:
    node = Policy(PolicyNodeConfig(variant=DiscreteMode.CLIP), offload=False)
    env = ReachGrasp()
    obs = env.reset(7)
    async with NodeHarness(node) as h:
        await h.feed("observations", obs, at_s=0.1)
        await h.idle()
        await h.feed("observations", np.zeros(3), at_s=0.15)  # malformed: dropped, counted, graph keeps going
        await h.idle()
        chunk = h.data("actions")[0]
        obs = env.step(chunk.actions[0]).obs
        await h.feed("observations", obs, at_s=0.2)
        await h.idle()
        await h.interrupt()  # episode boundary
        await h.idle()
        await h.feed("observations", env.reset(8), at_s=0.3)
        await h.idle()
    chunks = h.data("actions")
    events = h.outputs["actions"]
    assert [c.nfe for c in chunks] == [100, len(node.core.policy.rti.timesteps), 100]
    assert [c.first for c in chunks] == [True, False, True]
    for c, ev in zip(chunks, events, strict=True):
        assert c.origin_ns == ev.origin_ns
        assert c.times_ns[0] == ev.origin_ns and np.all(np.diff(c.times_ns) == c.dt_ns)
    assert chunks[1].origin_ns == round(0.2 * NS_PER_S)
    assert node.bad_observations == 1 and "shape (7,)" in (node.last_error or "")
