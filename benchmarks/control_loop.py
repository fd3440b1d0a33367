"""The robot control loop over MQTT: loop timing, state → action latency, watchdog stop time.

For each broker (the embedded amqtt, hosted in the agent's process as `liveloop
robot` does; and a private Mosquitto process) and each robot rate (50 Hz and
100 Hz), each responder runs for `--duration` seconds (60, or 10 with
--quick) as three processes::

    liveloop robot sim      the simulated robot (fixed-rate loop, watchdog)      → loop jitter, misses, round trip
    liveloop robot --no-sim the agent: bridge + responder (+ amqtt broker)        → state → action latency
    this script             starts them, then SIGKILLs the agent                  → watchdog stop time

Responders: `rti` and `ddpm100` (the policy package's checkpoints, side by side:
the issue's baseline) when a checkpoint is there, and `expert` (the task's
scripted expert, a placeholder with no learned policy) always. `rti` runs its
decisions (a compiled 3-step chain; an episode's first one DDIM-10) on the agent's
event loop; `rti_thread` is the same with every decision in a worker thread
(`--decide-in thread`); `rti_cold100` starts each episode with the paper's full
DDPM-100 denoise (`--cold-start ddpm100`), in a worker thread.

Measured:
    jitter_ms_p50/p99  how late each robot tick started after its absolute deadline
    misses             ticks whose work ran past the next deadline
    state_to_action    agent side: a state taken off the wire → the decision's chunk handed to the socket
    round_trip         robot side: a state published → the chunk answering it received (two broker hops)
    watchdog_stop_ms   SIGKILL of the agent → the robot's watchdog stop (robot clock = this machine's CLOCK_MONOTONIC);
                       the robot counts its timeout from the state its last action answered
                       (`last_fresh_after_kill_ms`: that state's capture, relative to the kill)

    python benchmarks/control_loop.py [--quick] [--out PATH] [--brokers amqtt,mosquitto] [--policies rti,ddpm100,expert]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liveloop.robots.broker import Credentials, MosquittoBroker, free_port, wait_listening  # noqa: E402

PASSWORD_ENV = "LIVELOOP_MQTT_PASSWORD"
KILL_TAIL_S = 1.5  # the robot keeps running this long after the agent is killed


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 3) if xs else None


def _tail(path: Path, n: int = 2000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _have_checkpoint() -> bool:
    try:
        from liveloop.policy.model import resolve_checkpoint

        resolve_checkpoint("reach_grasp")
        return True
    except Exception:
        return False


async def run_one(
    broker_name: str, hz: int, policy: str, duration_s: float, work: Path, realtime: bool
) -> dict[str, Any]:
    creds = Credentials("bench", "bench-" + os.urandom(6).hex())
    env = {**os.environ, PASSWORD_ENV: creds.password, "PYTHONPATH": str(ROOT)}
    tag = f"{broker_name}-{hz}-{policy}-{'rt' if realtime else 'normal'}"
    agent_report, sim_report = work / f"agent-{tag}.json", work / f"sim-{tag}.json"
    responder, *flags = policy.split("_")  # rti, rti_thread, rti_cold100: see the module docstring
    responder_args = ["--policy", responder, "--runner", "loop"]
    responder_args += ["--decide-in", "thread" if "thread" in flags else "loop"]
    responder_args += ["--cold-start", "ddpm100" if "cold100" in flags else "ddim10"]
    agent_report.unlink(missing_ok=True)  # a repeated run must not see the last one's files
    sim_report.unlink(missing_ok=True)
    mosq: MosquittoBroker | None = None
    py = [sys.executable, "-m", "liveloop", "robot"]
    common = ["--username", creds.username, "--rate-hz", str(hz), "--robot-id", "bench"]
    if broker_name == "mosquitto":
        mosq = MosquittoBroker(creds)
        addr = await mosq.start()
        url = f"mqtt://127.0.0.1:{addr.port}"
        agent_cmd = [
            *py,
            "--no-sim",
            "--broker",
            url,
            *common,
            *responder_args,
            "--report",
            str(agent_report),
        ]
    else:
        port = free_port()
        url = f"mqtt://127.0.0.1:{port}"
        agent_cmd = [
            *py,
            "--no-sim",
            "--port",
            str(port),
            *common,
            *responder_args,
            "--report",
            str(agent_report),
        ]
    agent_log, sim_log = (work / f"agent-{tag}.log").open("wb"), (work / f"sim-{tag}.log").open("wb")
    agent = subprocess.Popen(agent_cmd, env=env, stdout=subprocess.DEVNULL, stderr=agent_log)
    sim: subprocess.Popen[bytes] | None = None
    try:
        host_port = int(url.rsplit(":", 1)[1])
        if broker_name == "amqtt" and not await wait_listening("127.0.0.1", host_port, 60):
            raise RuntimeError(f"agent with embedded broker did not start: {_tail(work / f'agent-{tag}.log')}")
        for _ in range(600):  # the agent writes its first report once its responder is loaded and it runs
            if agent_report.exists() or agent.poll() is not None:
                break
            await asyncio.sleep(0.1)
        if agent.poll() is not None:
            raise RuntimeError(f"agent exited: {_tail(work / f'agent-{tag}.log')}")
        sim_cmd = [*py, "sim", "--broker", url, *common]  # runs until SIGTERM, KILL_TAIL_S after the agent's kill
        sim_cmd += ["--report", str(sim_report), *(["--realtime"] if realtime else [])]
        sim = subprocess.Popen(sim_cmd, env=env, stdout=subprocess.DEVNULL, stderr=sim_log)
        for _ in range(600):  # the clock starts once the agent hears the robot (process start-up is slow when loaded)
            try:
                if json.loads(agent_report.read_text()).get("states", 0) >= 25:
                    break
            except (OSError, ValueError):
                pass
            await asyncio.sleep(0.1)
        await asyncio.sleep(duration_s)
        kill_ns = time.monotonic_ns()
        agent.send_signal(signal.SIGKILL)
        await asyncio.to_thread(agent.wait, 10)
        await asyncio.sleep(KILL_TAIL_S)
        sim.send_signal(signal.SIGTERM)  # the robot writes its report and exits
        await asyncio.to_thread(sim.wait, 30)
        if sim.returncode != 0:
            raise RuntimeError(f"sim failed: {_tail(work / f'sim-{tag}.log')}")
    finally:
        for p in (agent, sim):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(5)
        if mosq is not None:
            mosq.kill()
            await mosq.stop()
        agent_log.close()
        sim_log.close()
    s = json.loads(sim_report.read_text())
    a = json.loads(agent_report.read_text()) if agent_report.exists() else {}
    mode_at_kill = "idle"
    stop_ms = None
    last_fresh_after_kill_ms = None
    for tr in s["transitions"]:
        if tr["at_ns"] <= kill_ns:
            mode_at_kill = tr["after"]
        elif tr["after"] == "stopped" and stop_ms is None and mode_at_kill == "running":
            stop_ms = round((tr["at_ns"] - kill_ns) / 1e6, 2)
            silent = re.search(r"no fresh action for ([0-9.]+) ms", tr["reason"])
            # when the robot's last fresh action was fresh (the capture of the state it answered), vs the kill
            last_fresh_after_kill_ms = round(stop_ms - float(silent.group(1)), 2) if silent else None
    rt = s["state_to_action_ms"]
    return {
        "broker": broker_name,
        "hz": hz,
        "policy": policy,
        "decide_in": a.get("decide_in"),
        "sim_priority": "realtime" if s["loop"].get("realtime") else "normal",
        "jitter_ms_p50": s["loop"]["jitter_ms_p50"],
        "jitter_ms_p99": s["loop"]["jitter_ms_p99"],
        "jitter_ms_max": s["loop"]["jitter_ms_max"],
        "misses": int(s["loop"]["misses"]),
        "ticks": int(s["loop"]["ticks"]),
        "state_to_action_ms_p50": a.get("state_to_action_ms_p50"),
        "state_to_action_ms_p99": a.get("state_to_action_ms_p99"),
        "state_to_action_ms_p99_warm": a.get("state_to_action_ms_p99_warm"),
        "nfe_p50": a.get("nfe_p50"),
        "decide_ms_p50": a.get("decide_ms_p50"),
        "decide_cpu_ms_p50": a.get("decide_cpu_ms_p50"),
        "pickup_ms_p99": a.get("pickup_ms_p99"),
        "decisions": a.get("decisions"),
        "heartbeats": a.get("heartbeats"),
        "round_trip_ms_p50": _pct(rt, 50),
        "round_trip_ms_p99": _pct(rt, 99),
        "watchdog_stops": sum(1 for t in s["transitions"] if t["after"] == "stopped" and t["at_ns"] <= kill_ns),
        "mode_at_kill": mode_at_kill,
        "watchdog_stop_ms": stop_ms,
        "last_fresh_after_kill_ms": last_fresh_after_kill_ms,
        "episodes": s["episodes"],
        "outcomes": s["outcomes"],
        "stale_actions": s["stale_actions"],
        "jitter_ms": s["jitter_ms"],
        "loadavg_after": _loadavg(),  # 1/5/15-minute load averages when this run ended
    }


def _put_watchdog(entry: dict[str, Any], kills: list[float], in_flight: list[float | None] | None = None) -> None:
    """The dedicated kills (robot running on the expert's fresh actions at the moment of the SIGKILL)."""
    entry["watchdog_stop_ms"] = round(statistics.median(kills), 2) if kills else None
    entry["watchdog_stop_ms_max"] = max(kills) if kills else None
    entry["watchdog_stop_ms_kills"] = kills
    if in_flight is not None:  # per kill: when the last fresh action reached the robot, relative to the kill
        entry["last_fresh_after_kill_ms"] = in_flight


def summarise(
    runs: list[dict[str, Any]],
    primary: str,
    kills: dict[str, list[float]],
    in_flight: dict[str, list[float | None]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in sorted({r["broker"] for r in runs}):
        entry: dict[str, Any] = {}
        stops = []
        for hz in (50, 100):
            rs = [r for r in runs if r["broker"] == b and r["hz"] == hz]
            if not rs:
                continue
            rt = [r for r in rs if r["sim_priority"] == "realtime"] or rs
            main = next((r for r in rt if r["policy"] == primary), rt[0])
            normal = next((r for r in rs if r["sim_priority"] == "normal" and r["policy"] == primary), None)
            entry[f"hz{hz}"] = {
                "policy": main["policy"],
                "sim_priority": main["sim_priority"],
                "jitter_ms_p50": main["jitter_ms_p50"],
                "jitter_ms_p99": main["jitter_ms_p99"],
                "misses": main["misses"],
                "state_to_action_ms_p50": main["state_to_action_ms_p50"],
                "state_to_action_ms_p99": main["state_to_action_ms_p99"],
                "state_to_action_ms_p99_warm": main["state_to_action_ms_p99_warm"],
                "round_trip_ms_p99": main["round_trip_ms_p99"],
                "policies": {r["policy"]: {k: v for k, v in r.items() if k != "jitter_ms"} for r in rt},
                "normal_priority": None
                if normal is None
                else {k: normal[k] for k in ("jitter_ms_p50", "jitter_ms_p99", "misses", "state_to_action_ms_p99")},
            }
            stops += [r["watchdog_stop_ms"] for r in rs if r["watchdog_stop_ms"] is not None]
        entry["watchdog_stop_ms_loop_runs"] = stops  # the kills ending the loop runs (when the robot was running)
        _put_watchdog(entry, kills.get(b, []), (in_flight or {}).get(b))
        out[b] = entry
    return out


def table(runs: list[dict[str, Any]]) -> str:
    head = (
        f"{'broker':<10}{'Hz':>4} {'sim':<7}{'policy':<11}{'jit p50':>8}{'jit p99':>8}{'miss':>6}"
        f"{'s→a p50':>9}{'s→a p99':>9}{'warm p99':>9}{'rt p99':>8}{'decide':>8}{'cpu':>6}{'wd stop':>9}  at kill"
    )
    lines = [head, "-" * len(head)]

    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)

    for r in runs:
        lines.append(
            f"{r['broker']:<10}{r['hz']:>4} {r['sim_priority'][:6]:<7}{r['policy']:<11}"
            f"{f(r['jitter_ms_p50']):>8}{f(r['jitter_ms_p99']):>8}"
            f"{r['misses']:>6}{f(r['state_to_action_ms_p50']):>9}{f(r['state_to_action_ms_p99']):>9}"
            f"{f(r['state_to_action_ms_p99_warm']):>9}"
            f"{f(r['round_trip_ms_p99']):>8}{f(r['decide_ms_p50']):>8}{f(r['decide_cpu_ms_p50']):>6}"
            f"{f(r['watchdog_stop_ms']):>9}"
            f"  {r['mode_at_kill']}"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    brokers = sorted({r["broker"] for r in runs})
    fig, axes = plt.subplots(1, len(brokers), figsize=(6 * len(brokers), 4), squeeze=False)
    for ax, b in zip(axes[0], brokers, strict=True):
        for r in (r for r in runs if r["broker"] == b):
            x = np.sort(np.asarray(r["jitter_ms"]))
            if x.size:
                ls = "-" if r["sim_priority"] == "realtime" else "--"
                ax.plot(x, np.linspace(0, 1, x.size), ls=ls, label=f"{r['hz']} Hz, {r['policy']}, {r['sim_priority']}")
        ax.axvline(2.0, color="k", ls=":", lw=1, label="target p99 2 ms")
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlim(left=0)
        ax.set_xlabel("tick lateness after deadline (ms)")
        ax.set_ylabel("share of ticks")
        ax.set_title(f"robot loop timing — {b}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s per run instead of 60")
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "control_loop.json")
    ap.add_argument("--brokers", default="amqtt,mosquitto")
    ap.add_argument("--rates", default="50,100")
    ap.add_argument(
        "--policies",
        default=None,
        help="default: rti,rti_thread,rti_cold100,ddpm100,expert with a checkpoint, else expert",
    )
    ap.add_argument("--no-normal", action="store_true", help="skip the normal-priority robot run of the primary policy")
    ap.add_argument("--watchdog-reps", type=int, default=None, help="agent kills per broker (default 6, quick 3)")
    ap.add_argument(
        "--watchdog-only", action="store_true", help="only the watchdog phase, merged into the existing --out JSON"
    )
    args = ap.parse_args()
    reps = args.watchdog_reps or (3 if args.quick else 6)
    duration = args.duration or (10.0 if args.quick else 60.0)
    have_ckpt = _have_checkpoint()
    policies = (
        args.policies.split(",")
        if args.policies
        else (["rti", "rti_thread", "rti_cold100", "ddpm100", "expert"] if have_ckpt else ["expert"])
    )
    primary = "rti" if "rti" in policies else policies[0]
    brokers = args.brokers.split(",")
    if "mosquitto" in brokers and not MosquittoBroker.available():
        print("mosquitto not installed: skipping it (apt-get install mosquitto)", file=sys.stderr)
        brokers.remove("mosquitto")
    load_before = _loadavg()
    runs: list[dict[str, Any]] = []
    kills: dict[str, list[float]] = {}
    in_flight: dict[str, list[float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="liveloop-bench-") as tmp:
        # watchdog phase: the expert keeps the robot running, then its agent is SIGKILLed
        for b in brokers:
            kills[b], in_flight[b] = [], []
            for i in range(reps):
                print(f"… watchdog {b} kill {i + 1}/{reps}, load {_loadavg()}", file=sys.stderr)
                r = await run_one(b, 50, "expert", 3.0, Path(tmp), True)
                if r["watchdog_stop_ms"] is not None:
                    kills[b].append(r["watchdog_stop_ms"])
                    in_flight[b].append(r["last_fresh_after_kill_ms"])
                else:
                    print(f"  robot was {r['mode_at_kill']} at the kill: not counted", file=sys.stderr)
        if args.watchdog_only:
            result = json.loads(args.out.read_text())
            old_kills = {b: e.get("watchdog_stop_ms_kills", []) for b, e in result["brokers"].items()}
            result["brokers"] = summarise(result["runs"], result["primary_policy"], {**old_kills, **kills}, in_flight)
            result["watchdog_loadavg"] = _loadavg()
            args.out.write_text(json.dumps(result, indent=1))
            print(json.dumps({b: result["brokers"][b]["watchdog_stop_ms_kills"] for b in kills}))
            return 0
        for b in brokers:
            for hz in (int(x) for x in args.rates.split(",")):
                plan = [(pol, True) for pol in policies] + ([] if args.no_normal else [(primary, False)])
                for pol, rt in plan:
                    pri = "realtime" if rt else "normal"
                    print(f"… {b} {hz} Hz {pol} ({pri} robot) for {duration:.0f} s, load {_loadavg()}", file=sys.stderr)
                    runs.append(await run_one(b, hz, pol, duration, Path(tmp), rt))
    print(table(runs))
    result = {
        "benchmark": "control_loop",
        "duration_s": duration,
        "quick": args.quick,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "cpus": os.cpu_count(),
        "primary_policy": primary,
        "policy_note": (
            "rti: the reach_grasp_scale checkpoint (RTI-scale, compiled, run by ONNX Runtime; decisions on the "
            "agent's loop; an episode's first decision DDIM-10); rti_thread: the same, every decision in a worker "
            "thread; rti_cold100: the same with the paper's DDPM-100 first decision (in a thread); "
            "ddpm100: the reach_grasp checkpoint, 8 actions per chunk; expert: the task's scripted expert"
            if have_ckpt
            else "PLACEHOLDER: no policy checkpoint yet; 'expert' is the task's scripted expert, not a learned policy"
        ),
        "brokers": summarise(runs, primary, kills, in_flight),
        "runs": [{k: v for k, v in r.items() if k != "jitter_ms"} for r in runs],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(runs, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
