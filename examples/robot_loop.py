"""The robot control loop in one script: embedded broker, simulated robot, agent, over real MQTT.

    python examples/robot_loop.py [--seconds 5] [--policy expert|rti]

The robot runs its own fixed-rate loop (50 Hz) with a watchdog; the agent answers
its states with timed action chunks. After `--seconds` the agent stops and the
robot's watchdog stops the robot within about 100 ms. (`liveloop robot` does
the same with the robot in its own process.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveloop.robots.bridge import BridgeConfig, MqttBridge
from liveloop.robots.broker import EmbeddedBroker
from liveloop.robots.control import AgentRunner, make_responder
from liveloop.robots.protocol import RobotMode
from liveloop.robots.robot import SimConfig
from liveloop.robots.sim import SimRobot


async def main(seconds: float, policy: str) -> None:
    async with EmbeddedBroker() as address:  # amqtt in this process, password auth, a free port
        print(f"broker: {address.describe()}")
        robot = SimRobot(SimConfig(robot_id="demo"), address)
        agent = AgentRunner(MqttBridge(address, BridgeConfig(robot_id="demo")), make_responder(policy))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(robot.run())
            tg.create_task(agent.run(seconds))
            while robot.core.mode is not RobotMode.STOPPED or agent.bridge.connected:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            robot.stop()
        for t in robot.core.transitions:
            print(f"robot: {t.before.value} → {t.after.value}: {t.reason}")
        print("robot loop:", robot.pacer.stats())
        print("agent:", {k: v for k, v in agent.report.summary().items() if k != "bridge"})
        print("episodes:", robot.core.outcomes or "none finished")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--policy", default="expert", choices=("expert", "rti", "ddpm100"))
    args = ap.parse_args()
    asyncio.run(main(args.seconds, args.policy))
