"""The trained diffusion policy closing the loop on the reach-and-grasp simulator, inside a graph.

    sim (this script) ──observations (latest)──► policy.Policy (RTI) ──actions──► sim

Each control step (10 Hz, paced on the graph's monotonic clock) the script puts
the simulator's observation into the graph, waits for the policy's action
chunk and applies the action meant for now. An INTERRUPT between episodes
starts the next one with a full denoise. A 20 ms budget (a 50 Hz loop) sits on
the observation → action path; the runtime picks the number of denoising steps
(3, 2 or 1) that fits it. The report at the end shows latencies and goodput.

    python examples/policy_reach_grasp.py [--episodes 5] [--variant none|clip|scale] [--fast]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveloop.graph import Graph, Inlet, Latest, MonotonicClock, Outlet
from liveloop.graph.clock import NS_PER_S
from liveloop.graph.event import EventKind
from liveloop.policy.node import Policy, PolicyNodeConfig
from liveloop.policy.rti import DiscreteMode
from liveloop.policy.tasks.reach_grasp import ReachGrasp


async def main(episodes: int, variant: DiscreteMode, fast: bool) -> int:
    checkpoint = "reach_grasp_scale" if variant is DiscreteMode.SCALE else "reach_grasp"
    clock = MonotonicClock()
    g = Graph("policy_demo", clock=clock)
    robot = Inlet("robot", policy=Latest())
    policy = Policy(PolicyNodeConfig(checkpoint=checkpoint, variant=variant, torch_threads=1))
    out = Outlet("actuator")
    g.add(robot)
    g.add(policy)
    g.add(out)
    g.connect("robot.out", "policy.observations")
    g.connect("policy.actions", "actuator.inp")
    g.budget("robot.out", "policy.actions", ms=20, name="state_to_action")
    env = ReachGrasp()
    wins = 0
    async with g.running():
        for ep in range(episodes):
            obs = env.reset(seed=500 + ep)
            await robot.control(EventKind.INTERRUPT)  # new episode: the next decision is a full denoise
            while (await out.get()).kind is not EventKind.INTERRUPT:
                pass
            tick = clock.now_ns()
            nfes = []
            while True:
                await robot.put(obs, origin_ns=clock.now_ns())
                ev = await out.get()
                chunk = ev.data
                nfes.append(chunk.nfe)
                res = env.step(chunk.actions[0])
                obs = res.obs
                if res.done:
                    break
                tick += round(env.config.control_dt_s * NS_PER_S)
                if not fast:
                    await clock.sleep_until(tick)
            wins += res.success
            print(
                f"episode {ep}: {res.info['outcome']:13s} in {res.info['time_s']:.1f} s, NFE per decision {nfes[:4]}…"
            )
        report_table = g.report().table()
    print(f"success {wins}/{episodes}")
    if report_table:
        print(report_table)
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--variant", default="none", choices=[m.value for m in DiscreteMode])
    ap.add_argument("--fast", action="store_true", help="do not pace at 10 Hz")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.episodes, DiscreteMode(a.variant), a.fast)))
