"""`liveloop robot` end to end: embedded amqtt broker, the simulated robot in its own process, the agent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from liveloop.robots.broker import MosquittoBroker


def _run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> tuple[dict, dict]:
    agent_path, sim_path = tmp_path / "agent.json", tmp_path / "sim.json"
    cmd = [sys.executable, "-m", "liveloop", "robot", "--policy", "expert", *args, "--duration", "3"]
    cmd += ["--report", str(agent_path), "--sim-report", str(sim_path)]
    res = subprocess.run(cmd, capture_output=True, timeout=60, env=env, cwd=Path(__file__).parents[2])
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return json.loads(agent_path.read_text()), json.loads(sim_path.read_text())


def _check(agent: dict, sim: dict) -> None:
    assert agent["policy"] == "expert"
    assert agent["decisions"] >= 5  # the loop closed over MQTT (counts, not rates: the machine may be loaded)
    assert agent["bridge"]["malformed"] == 0
    assert sim["loop"]["ticks"] >= 20
    assert sim["transitions"][0]["after"] == "running"
    assert sim["state_to_action"]["state_to_action_n"] >= 5
    # the agent left first: the robot's watchdog stopped it before it was told to quit
    assert sim["transitions"][-1]["after"] == "stopped"


def test_liveloop_robot_with_embedded_broker(tmp_path: Path) -> None:
    _check(*_run([], tmp_path))


async def test_liveloop_robot_with_mosquitto(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    import os

    env = {**os.environ, "LIVELOOP_MQTT_PASSWORD": mosquitto.credentials.password}
    url = f"mqtt://{mosquitto.credentials.username}@127.0.0.1:{mosquitto.port}"
    _check(*_run(["--broker", url], tmp_path, env))


def test_sim_needs_a_broker() -> None:
    res = subprocess.run([sys.executable, "-m", "liveloop", "robot", "sim"], capture_output=True, timeout=60)
    assert res.returncode != 0 and b"--broker is required" in res.stderr


@pytest.mark.parametrize("url", ["http://x", "mqtt://"])
def test_bad_broker_url_named(url: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "liveloop", "robot", "sim", "--broker", url], capture_output=True, timeout=60
    )
    assert res.returncode != 0 and b"broker URL" in res.stderr
