"""The `liveloop robot` graph: robot state → RTI diffusion policy → MQTT, and camera → vision → the robot's target.

    robot ──state──► observe ──observations──► policy ──actions──► actions          budget state_to_action (20 ms)
    video ──frames──► tracker ──tracks_in──► predictor ──tracks──► target           budget frame_to_tracks (33 ms)

`build_robot_graph` assembles it around an `MqttBridge` and a `SteeringCore`
(what the robot pursues: the voice agent's goals set it, see
`liveloop.apps.robot` for the page and the voice agent around this graph);
`run_robot_graph` runs it (with the embedded broker and the simulated robot
started by the CLI) and returns the run report: per-node and per-path latency,
drops, budget goodput.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveloop.graph import Graph
from liveloop.robots.bridge import MqttBridge
from liveloop.robots.control import RTI_CHECKPOINT, RTI_COLD_START
from liveloop.robots.nodes import PolicyInput, RobotActions, RobotState, TargetFromTracks
from liveloop.robots.steering import SteeringCore
from liveloop.robots.view import RobotView


@dataclass(frozen=True, slots=True)
class RobotAppConfig:
    checkpoint: str = RTI_CHECKPOINT  # a *_scale checkpoint runs RTI-scale, any other RTI-clip
    video: Path | None = None  # a video file whose first tracked face/object becomes the robot's target
    state_to_action_ms: float = 20.0
    frame_to_tracks_ms: float = 33.0
    torch_threads: int = 1
    compile: bool = True  # trace the policy at start-up (see liveloop.policy.compiled)
    cold_start: str = RTI_COLD_START  # an episode's first decision: "ddim10" or the paper's "ddpm100"

    def __post_init__(self) -> None:
        if self.video is not None and not Path(self.video).exists():
            raise ValueError(f"video must be an existing file, got {self.video}")
        if self.state_to_action_ms <= 0 or self.frame_to_tracks_ms <= 0:
            raise ValueError("budgets must be > 0 ms")
        if self.cold_start not in ("ddim10", "ddpm100"):
            raise ValueError(f"cold_start must be 'ddim10' or 'ddpm100', got {self.cold_start!r}")


def build_robot_graph(
    bridge: MqttBridge,
    config: RobotAppConfig | None = None,
    *,
    steering: SteeringCore | None = None,
    view: RobotView | None = None,
) -> tuple[Graph, dict[str, Any]]:
    from liveloop.policy.node import Policy, PolicyNodeConfig, shared_policy
    from liveloop.policy.rti import ColdStart, DiscreteMode

    cfg = config or RobotAppConfig()
    pcfg = shared_policy(cfg.checkpoint).config
    control_dt_s = pcfg.control_dt_s
    variant = DiscreteMode.SCALE if pcfg.gripper_scale < 1.0 else DiscreteMode.CLIP
    g = Graph("robot")
    src = RobotState(bridge, heartbeat_dt_s=control_dt_s, steering=steering, view=view)
    nodes: dict[str, Any] = {"robot": src}
    g.add(src, "robot")
    nodes["observe"] = g.add(PolicyInput(control_dt_s, steering=src.steering), "observe")
    policy_cfg = PolicyNodeConfig(
        cfg.checkpoint,
        variant,
        torch_threads=cfg.torch_threads,
        compile=cfg.compile,
        cold=ColdStart(cfg.cold_start),
    )
    nodes["policy"] = g.add(Policy(policy_cfg), "policy")
    nodes["actions"] = g.add(RobotActions(src), "actions")
    g.connect("robot.state", "observe.state")
    g.connect("observe.observations", "policy.observations")
    g.connect("policy.actions", "actions.actions")
    g.budget("robot.state", "actions.actions", ms=cfg.state_to_action_ms, name="state_to_action")
    if cfg.video is not None:
        from liveloop.vision.nodes import Predictor, Tracker, VideoFileSource

        nodes["video"] = g.add(VideoFileSource(cfg.video), "video")
        nodes["tracker"] = g.add(Tracker(), "tracker")
        nodes["predictor"] = g.add(Predictor(), "predictor")
        nodes["target"] = g.add(TargetFromTracks(src), "target")
        g.connect("video.frames", "tracker.frames")
        g.connect("tracker.tracks", "predictor.tracks_in")
        g.connect("predictor.tracks", "target.tracks")
        g.budget("video.frames", "predictor.tracks", ms=cfg.frame_to_tracks_ms, name="frame_to_tracks")
    return g, nodes


async def run_robot_graph(
    bridge: MqttBridge,
    config: RobotAppConfig | None = None,
    *,
    duration_s: float | None = None,
    report_path: Path | None = None,
) -> dict[str, Any]:
    g, nodes = build_robot_graph(bridge, config)
    report = await g.run(duration_s=duration_s)
    summary = graph_summary(bridge, nodes)
    summary["graph"] = report.to_dict()
    print(report.table())
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(summary, indent=1, default=str))
    return summary


def graph_summary(bridge: MqttBridge, nodes: dict[str, Any]) -> dict[str, Any]:
    return {
        "heartbeats": nodes["robot"].heartbeats,
        "holds": nodes["robot"].holds,
        "waits": nodes["robot"].waits,
        "chunks_sent": nodes["actions"].sent,
        "chunks_dropped": nodes["actions"].dropped,
        "chunks_held": nodes["actions"].held,
        "episodes": nodes["observe"].episodes,
        "targets_sent": nodes["target"].sent if "target" in nodes else 0,
        "bridge": {"reconnects": max(0, bridge.link.stats.connects - 1), "malformed": bridge.core.stats.malformed},
        "steering": nodes["robot"].steering.describe(),
    }
