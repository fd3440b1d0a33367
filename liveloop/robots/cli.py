"""``liveloop robot`` (the agent's control loop, with a simulated robot) and ``liveloop robot sim``.

    liveloop robot                         embedded amqtt broker + simulated robot process + RTI policy graph,
                                           and the page with the voice agent (robot view, goals steer the policy)
    liveloop robot --no-web                the same without the page and the voice agent
    liveloop robot --broker mqtt://…       against a running broker (Mosquitto in production)
    liveloop robot --no-sim --broker …     only the agent: the robot is somewhere else
    liveloop robot --runner loop --policy expert|rti|ddpm100   the plain control loop (what the benchmark runs)
    liveloop robot sim --broker mqtt://…   only the simulated robot (its own process)

The password comes from ``--password`` or the environment variable
``LIVELOOP_MQTT_PASSWORD`` (preferred: it does not show in `ps`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PASSWORD_ENV = "LIVELOOP_MQTT_PASSWORD"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", default=None, help="mqtt://[user@]host:port or mqtts://… (default: embedded amqtt)")
    p.add_argument("--username", default=None, help="broker user (default: the URL's, or 'liveloop')")
    p.add_argument("--password", default=None, help=f"broker password (default: ${PASSWORD_ENV})")
    p.add_argument("--robot-id", default="sim", help="robot id in the topics liveloop/<robot_id>/… (default sim)")
    p.add_argument("--rate-hz", type=float, default=50.0, help="robot control rate (default 50)")
    p.add_argument("--watchdog-ms", type=float, default=100.0, help="robot stops after this long without actions")
    p.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--report", type=Path, default=None, help="write a JSON report here")
    p.add_argument("--realtime", action="store_true", help="run the robot loop under SCHED_FIFO (if permitted)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("robot", help="robot control loop over MQTT with a simulated robot")
    _common(p)
    p.add_argument(
        "--policy",
        default=None,
        choices=("expert", "rti", "ddpm100"),
        help="rti (default when the policy checkpoint is there), ddpm100, or expert (the task's scripted expert)",
    )
    p.add_argument("--port", type=int, default=0, help="embedded broker port (default: a free one)")
    p.add_argument("--no-sim", action="store_true", help="do not start the simulated robot process")
    p.add_argument("--action-qos", type=int, default=0, choices=(0, 1, 2))
    p.add_argument("--sim-report", type=Path, default=None, help="the simulated robot's JSON report")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--runner",
        default=None,
        choices=("graph", "loop"),
        help="graph: the liveloop graph with the policy.Policy node (rti only, the default for it); "
        "loop: the plain control loop (any policy; what the benchmark uses)",
    )
    p.add_argument(
        "--cold-start",
        default="ddim10",
        choices=("ddim10", "ddpm100"),
        help="RTI's first decision of an episode: DDIM-10 (default, fits the 20 ms budget) or the paper's DDPM-100",
    )
    p.add_argument(
        "--decide-in",
        default="loop",
        choices=("loop", "thread"),
        help="loop runner: cheap decisions on the event loop (default) or every decision in a worker thread",
    )
    p.add_argument("--video", type=Path, default=None, help="video file: its first tracked object is the target")
    web = p.add_argument_group("page and voice agent (graph runner)")
    web.add_argument("--no-web", action="store_true", help="no page, no voice agent: only the control loop")
    web.add_argument(
        "--host", default="127.0.0.1", help="page address (default 127.0.0.1; beyond it a token is needed)"
    )
    web.add_argument("--http-port", type=int, default=8080, help="page port (default 8080; 0 picks a free one)")
    web.add_argument("--token", default=None, help="bearer token for the page (default: LIVELOOP_TOKEN)")
    web.add_argument("--no-asr", action="store_true", help="do not load speech recognition")
    web.add_argument("--no-tts", action="store_true", help="do not load speech synthesis")
    web.add_argument("--no-vision", action="store_true", help="do not track objects in the browser's camera")
    p.set_defaults(func=_robot)
    rsub = p.add_subparsers(dest="robot_command", metavar="ACTION")
    s = rsub.add_parser("sim", help="the simulated reach-and-grasp robot, as its own process")
    _common(s)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--episode-s", type=float, default=30.0, help="episode time limit (default 30)")
    s.add_argument("--spin-ms", type=float, default=1.0, help="busy-wait before each deadline (default 1.0)")
    s.set_defaults(func=_sim)


def _address(args: argparse.Namespace) -> Any:
    from liveloop.robots.link import BrokerAddress

    password = args.password or os.environ.get(PASSWORD_ENV)
    if args.broker is None:
        raise SystemExit("liveloop robot sim: --broker is required (the agent starts the embedded broker)")
    try:
        addr = BrokerAddress.from_url(args.broker, args.username, password)
    except ValueError as exc:
        raise SystemExit(f"liveloop robot: {exc}") from None
    if addr.username is None and password is not None:
        addr = BrokerAddress(addr.host, addr.port, "liveloop", password, addr.tls)
    return addr


def _sim(args: argparse.Namespace) -> int:
    from liveloop.robots.robot import SimConfig
    from liveloop.robots.sim import run_sim

    config = SimConfig(
        robot_id=args.robot_id,
        rate_hz=args.rate_hz,
        watchdog_ms=args.watchdog_ms,
        seed=args.seed,
        episode_s=args.episode_s,
    )
    report = asyncio.run(
        run_sim(
            config,
            _address(args),
            duration_s=args.duration,
            spin_ms=args.spin_ms,
            report_path=args.report,
            realtime=args.realtime,
        )
    )
    summary = {k: v for k, v in report.to_json().items() if k not in ("jitter_ms", "state_to_action_ms")}
    print(json.dumps(summary, indent=1))
    return 0


def _robot(args: argparse.Namespace) -> int:
    return asyncio.run(_robot_main(args))


async def _robot_main(args: argparse.Namespace) -> int:
    from liveloop.robots.bridge import BridgeConfig, MqttBridge
    from liveloop.robots.broker import Credentials, EmbeddedBroker
    from liveloop.robots.control import AgentRunner, make_responder

    if args.policy is None:
        from liveloop.policy.model import shipped_checkpoints

        args.policy = "rti" if "reach_grasp" in shipped_checkpoints() else "expert"
    runner_kind = args.runner or ("graph" if args.policy == "rti" or args.video else "loop")
    if runner_kind == "graph" and args.policy != "rti":
        raise SystemExit(
            f"liveloop robot: the graph runner drives the RTI policy node; --policy {args.policy} needs --runner loop"
        )
    responder = make_responder(args.policy, args.seed, args.cold_start) if runner_kind == "loop" else None
    embedded: EmbeddedBroker | None = None
    if args.broker is None:
        password = args.password or os.environ.get(PASSWORD_ENV)
        creds = (
            Credentials(args.username or "liveloop", password) if password else Credentials(args.username or "liveloop")
        )
        embedded = EmbeddedBroker(creds, port=args.port or None)
        address = await embedded.start()
        print(f"liveloop robot: embedded amqtt broker on {address.describe()}", file=sys.stderr)
    else:
        address = _address(args)
    sim: subprocess.Popen[bytes] | None = None
    try:
        if not args.no_sim:
            sim = _spawn_sim(args, address)
        bridge = MqttBridge(address, BridgeConfig(robot_id=args.robot_id, action_qos=args.action_qos))
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: main.cancel() if main else None)
        if responder is None:
            from liveloop.robots.app import RobotAppConfig, run_robot_graph

            config = RobotAppConfig(video=args.video, cold_start=args.cold_start)
            with contextlib.suppress(asyncio.CancelledError):
                if args.no_web:
                    await run_robot_graph(bridge, config, duration_s=args.duration, report_path=args.report)
                else:
                    from liveloop.apps.robot import RobotWebConfig, run_robot_app

                    web = RobotWebConfig(
                        host=args.host,
                        port=args.http_port,
                        token=args.token or os.environ.get("LIVELOOP_TOKEN") or None,
                        asr=not args.no_asr,
                        tts=not args.no_tts,
                        vision=not args.no_vision,
                    )
                    await run_robot_app(bridge, config, web, duration_s=args.duration, report_path=args.report)
        else:
            from liveloop.robots.control import DecideIn

            runner = AgentRunner(bridge, responder, decide_in=DecideIn(args.decide_in))
            try:
                report = await runner.run(args.duration, args.report)
            except asyncio.CancelledError:
                report = runner.report
            print(json.dumps(report.summary(), indent=1))
    finally:
        if sim is not None:
            # the agent is gone: let the robot's watchdog stop it (and report so) before the robot quits
            await asyncio.sleep(args.watchdog_ms / 1000 + 0.3)
            sim.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(sim.wait, 10)
            except subprocess.TimeoutExpired:
                sim.kill()
        if embedded is not None:
            await embedded.stop()
    return 0


def _spawn_sim(args: argparse.Namespace, address: Any) -> subprocess.Popen[bytes]:
    scheme = "mqtts" if address.tls else "mqtt"
    cmd = [
        sys.executable,
        "-m",
        "liveloop",
        "robot",
        "sim",
        "--broker",
        f"{scheme}://{address.host}:{address.port}",
        "--robot-id",
        args.robot_id,
        "--rate-hz",
        str(args.rate_hz),
        "--watchdog-ms",
        str(args.watchdog_ms),
        "--seed",
        str(args.seed),
    ]
    if address.username:
        cmd += ["--username", address.username]
    if args.sim_report:
        cmd += ["--report", str(args.sim_report)]
    if args.realtime:
        cmd += ["--realtime"]
    env = dict(os.environ)
    if address.password:
        env[PASSWORD_ENV] = address.password
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
