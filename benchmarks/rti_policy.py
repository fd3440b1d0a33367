"""RTI-DP against full-denoise diffusion policy: success, network evaluations and ms per decision.

For each task and sampler, ``--seeds`` × ``--episodes`` closed-loop episodes
(batched: all episodes of a seed step in lock-step and the network runs on the
whole batch), then single-episode timing (batch 1, one torch thread: what a
robot sees):

    ddpm100    DDPM, 100 steps from noise, executes 8 actions per chunk      (the issue's baseline)
    ddim10     DDIM, 10 steps from noise, executes 8 actions per chunk
    rti        RTI: warm start from the previous chunk shifted one step, ≤ 3 steps, re-plans every step
    rti_clip   RTI with the gripper's warm start clipped to ±σ_K′             (tasks with a gripper)
    rti_scale  RTI on the policy trained with gripper / 10                   (tasks with a gripper)
    rti_k2     RTI along [2, 1, 0] on the unscaled policy: ablation of the K′ choice (extra key)
    rti_scale_cold10  RTI-scale whose first decision is DDIM-10, not DDPM-100 (extra key: the robot's 50 Hz loop)

A task entry may name a shipped checkpoint instead (``--tasks pusht_cpu``: the Push-T policy
trained by the task's CPU-hour recipe, ``liveloop policy train --task pusht``); its rows are
keyed by that name.

``nfe_per_decision`` is the steady state (RTI's first decision per episode is a
full 100-step denoise: see ``nfe_mean`` and ``ms_first_decision``).

    python benchmarks/rti_policy.py [--quick] [--out PATH] [--tasks reach_grasp,pusht] [--samplers ...]
    python benchmarks/rti_policy.py --timing-only      re-time the decisions (batch 1) into the existing --out

Timing runs the network as deployed (`DiffusionPolicy.compile`: traced, run by ONNX
Runtime); the batched success rollouts run eager PyTorch (their batch size changes as
episodes end), so compiling changes the timings and never the success rates.

Writes ``{task: {sampler: {"success", "nfe_per_decision", "ms_per_decision_p50", …}}}`` to
benchmarks/results/rti_policy.json, run conditions to rti_policy.meta.json, and a plot
to rti_policy.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liveloop.policy.evaluate import SAMPLERS, checkpoint_for, evaluate_sampler, time_sampler  # noqa: E402
from liveloop.policy.model import CheckpointError, DiffusionPolicy  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed × 10 episodes, 1 timing episode")
    ap.add_argument("--out", type=Path, default=RESULTS / "rti_policy.json")
    ap.add_argument("--tasks", default="reach_grasp,pusht")
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--timing-episodes", type=int, default=3)
    ap.add_argument("--merge", action="store_true", help="update the entries measured here in an existing --out file")
    ap.add_argument(
        "--timing-only", action="store_true", help="only the batch-1 timing, merged into the existing --out file"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_seeds, n_eps, n_timing = (1, 10, 1) if args.quick else (args.seeds, args.episodes, args.timing_episodes)
    load_before = os.getloadavg()
    t0 = time.monotonic()
    results: dict[str, dict[str, dict[str, object]]] = {}
    skipped: dict[str, str] = {}
    existing = json.loads(args.out.read_text()) if args.timing_only and args.out.exists() else {}
    for task in args.tasks.split(","):
        results[task] = {}
        for sampler in args.samplers.split(","):
            try:
                policy = DiffusionPolicy.load(checkpoint_for(task, sampler))
            except CheckpointError as exc:
                skipped[f"{task}/{sampler}"] = str(exc)
                print(f"skip {task} {sampler}: {exc}", flush=True)
                continue
            if sampler.startswith(("rti_clip", "rti_scale", "rti_k2")) and policy.config.gripper_index is None:
                skipped[f"{task}/{sampler}"] = "no discrete action in this task"
                continue
            ts = time.monotonic()
            if args.timing_only:
                if sampler not in existing.get(task, {}):
                    print(f"skip {task} {sampler}: not in {args.out} yet (run it without --timing-only)", flush=True)
                    continue
                timing = time_sampler(policy, sampler, n_timing)
                results[task][sampler] = timing
                print(f"{task:12s} {sampler:10s} {timing}", flush=True)
                continue
            r = evaluate_sampler(policy, sampler, n_episodes=n_eps, n_seeds=n_seeds, timing_episodes=n_timing)
            results[task][sampler] = r.as_json()
            print(
                f"{task:12s} {sampler:10s} success {r.success:6.1%} {r.success_per_seed}  NFE/decision "
                f"{r.nfe_per_decision:3d} (mean {r.nfe_mean:5.1f})  ms/decision p50 {r.ms_per_decision_p50:7.1f} "
                f"(CPU {r.cpu_ms_per_decision_p50:6.1f}) first {r.ms_first_decision:7.1f}  {r.outcomes}  "
                + ("" if r.mean_max_coverage is None else f"coverage {r.mean_max_coverage:.2f}  ")
                + f"[{time.monotonic() - ts:.0f} s]",
                flush=True,
            )
    meta = {
        "command": " ".join(["python", "benchmarks/rti_policy.py", *sys.argv[1:]]),
        "seeds": n_seeds,
        "episodes_per_seed": n_eps,
        "timing_episodes": n_timing,
        "torch_threads": 1,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "wall_s": time.monotonic() - t0,
        "skipped": skipped,
        "checkpoints": {
            name: DiffusionPolicy.load(name).meta
            for name in {checkpoint_for(t, s) for t in results for s in results[t]}
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta_path = args.out.with_suffix(".meta.json")
    if args.timing_only:
        meta["timing_only"] = True
    if (args.merge or args.timing_only) and args.out.exists():
        old = json.loads(args.out.read_text())
        for task, rows in results.items():
            for sampler, row in rows.items():  # timing-only rows update the timing fields, keep the successes
                old.setdefault(task, {}).setdefault(sampler, {}).update(row)
        results = {t: {s: old[t][s] for s in SAMPLERS if s in old[t]} for t in old}
        old_meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        meta = {"runs": [*old_meta.get("runs", [old_meta] if old_meta else []), meta]}
    else:
        meta = {"runs": [meta]}
    args.out.write_text(json.dumps(results, indent=2))
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    print_table(results)
    print(f"load average before {load_before}, after {os.getloadavg()}; wrote {args.out}")
    plot(results, args.out.with_suffix(".png"))
    return 0


def print_table(results: dict[str, dict[str, dict[str, object]]]) -> None:
    print(
        f"\n{'task':12s} {'sampler':10s} {'success':>8s} {'coverage':>9s} {'NFE/dec':>8s} {'ms/dec p50':>11s} "
        f"{'CPU ms p50':>11s} {'vs ddpm100 NFE':>15s}"
    )
    for task, rows in results.items():
        base = rows.get("ddpm100", {}).get("nfe_per_decision")
        for sampler, r in rows.items():
            ratio = f"{base / r['nfe_per_decision']:.0f}× fewer" if base else "-"
            cov = r.get("mean_max_coverage")  # Push-T: best coverage per episode, averaged (Diffusion Policy's score)
            print(
                f"{task:12s} {sampler:10s} {r['success']:8.1%} {'-' if cov is None else f'{cov:.3f}':>9s} "
                f"{r['nfe_per_decision']:8d} "
                f"{r['ms_per_decision_p50']:11.1f} {r.get('cpu_ms_per_decision_p50', float('nan')):11.1f} {ratio:>15s}"
            )


def plot(results: dict[str, dict[str, dict[str, object]]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    tasks = [t for t in results if results[t]]
    if not tasks:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(tasks)
    for i, task in enumerate(tasks):
        names = list(results[task])
        xs = [SAMPLERS.index(n) + i * width for n in names]
        axes[0].bar(xs, [100 * results[task][n]["success"] for n in names], width, label=task)
        axes[1].bar(xs, [results[task][n]["ms_per_decision_p50"] for n in names], width, label=f"{task} wall")
        cpu = [results[task][n].get("cpu_ms_per_decision_p50", float("nan")) for n in names]
        axes[1].plot(xs, cpu, "k_", markersize=14, markeredgewidth=2, label=f"{task} CPU time" if i == 0 else None)
    for ax, title in zip(axes, ("success (%)", "ms per decision (p50, batch 1, 1 thread; log)"), strict=True):
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(SAMPLERS))], SAMPLERS)
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[1].set_yscale("log")
    axes[1].axhline(20, color="red", linestyle="--", linewidth=1)
    axes[1].text(-0.3, 22, "50 Hz budget (20 ms)", color="red", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
