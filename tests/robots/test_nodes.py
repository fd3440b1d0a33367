"""The graph adapters: pure helpers, PolicyInput in the node harness, and the robot graph on a real broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from liveloop.graph.event import EventKind
from liveloop.robots.bridge import BridgeConfig, MqttBridge, StateIn
from liveloop.robots.broker import EmbeddedBroker
from liveloop.robots.nodes import PlanKeeper, PolicyInput, TargetMapping
from liveloop.robots.protocol import RobotMode, RobotState
from liveloop.robots.robot import SimConfig
from liveloop.robots.sim import SimRobot
from liveloop.testing import NodeHarness

MS = 1_000_000


def test_plan_keeper_rest_and_expiry() -> None:
    k = PlanKeeper(keep_before_ns=100 * MS)
    assert k.rest(0) is None
    k.set(np.arange(12.0).reshape(4, 3), np.array([0, 100, 200, 300]) * MS)
    u, t = k.rest(150 * MS)  # type: ignore[misc]
    assert t.tolist() == [100 * MS, 200 * MS, 300 * MS] and u.shape == (3, 3)
    assert k.rest(301 * MS) is None  # run out: never re-sent


def test_plan_keeper_waits_for_a_fresh_plan_only_so_long() -> None:
    k = PlanKeeper(keep_before_ns=100 * MS)
    k.set(np.zeros((2, 3)), np.array([0, 100]) * MS)
    k.expect(50 * MS)  # a new episode: the old plan is gone at once
    assert k.rest(60 * MS) is None
    assert k.waiting(60 * MS, think_ns=1000 * MS)
    assert not k.waiting(1050 * MS, think_ns=1000 * MS)  # a policy that never answers: the watchdog's turn
    k.set(np.zeros((2, 3)), np.array([100, 200]) * MS)
    assert not k.waiting(110 * MS, think_ns=1000 * MS)


def test_target_mapping_image_to_world() -> None:
    m = TargetMapping()
    assert m.to_world(0, 0, (640, 480)) == (-0.8, 0.85)  # top-left → left, far
    assert m.to_world(640, 480, (640, 480)) == (0.8, 0.35)
    assert m.to_world(-50, 1e6, (640, 480)) == (-0.8, 0.35)  # clamped into the box
    with pytest.raises(ValueError, match="box must be"):
        TargetMapping(box=(1, 0, 0, 1))


def _state(seq: int, t_ns: int, episode: float) -> StateIn:
    s = RobotState(
        robot="r", seq=seq, t_ns=t_ns, obs=[float(seq)] * 7, mode=RobotMode.RUNNING, info={"episode": episode}
    )
    return StateIn(s, t_ns, t_ns)


async def test_policy_input_decimates_and_interrupts_on_new_episode() -> None:
    async with NodeHarness(PolicyInput(control_dt_s=0.1)) as h:
        for i in range(20):  # 50 Hz for 0.4 s, then a new episode
            t = i * 20 * MS
            await h.feed("state", _state(i, t, 0.0 if i < 15 else 1.0), at_s=t / 1e9, origin_ns=t)
            await h.idle()
    obs = h.data("observations")
    firsts = [o[0] for o in obs]
    assert firsts == [0.0, 5.0, 10.0, 15.0]  # one per 100 ms; the new episode's first state passes at once
    assert [c.kind for c in h.controls("observations")] == [EventKind.INTERRUPT]


def _have_checkpoint() -> bool:
    from liveloop.policy.model import shipped_checkpoints

    return "reach_grasp" in shipped_checkpoints()


@pytest.mark.skipif(not _have_checkpoint(), reason="the policy package's reach_grasp checkpoint is not there yet")
async def test_robot_graph_closes_the_loop(tmp_path: Path) -> None:
    from liveloop.robots.app import RobotAppConfig, run_robot_graph

    async with EmbeddedBroker() as addr:
        robot = SimRobot(SimConfig(robot_id="g"), addr, spin_ms=0.0)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(robot.run(60.0))  # stopped below, once the graph (its set-up included) is done
            summary = await run_robot_graph(
                MqttBridge(addr, BridgeConfig(robot_id="g")),
                RobotAppConfig(),
                duration_s=4.0,
                report_path=tmp_path / "graph.json",
            )
            robot.stop()
    assert summary["chunks_sent"] > 0
    assert robot.core.accepted  # the robot took the policy's chunks
    graph = json.loads((tmp_path / "graph.json").read_text())["graph"]
    budgets = {b["name"]: b for b in graph["budgets"]}
    assert budgets["state_to_action"]["count"] > 0  # measured from the robot's capture time
