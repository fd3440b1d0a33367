"""``liveloop policy train|eval`` — train a diffusion policy on a task; evaluate it with a sampler."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SAMPLERS = ("ddpm100", "ddim10", "rti", "rti_clip", "rti_scale", "rti_k2", "rti_scale_cold10")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="diffusion policy: train, evaluate")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION")

    t = psub.add_parser("train", help="collect expert demos and train (DDPM, EMA); writes a checkpoint")
    t.add_argument(
        "--task",
        default="reach_grasp",
        help="reach_grasp (default) or pusht; each task's defaults for the flags below train it on a 2-core CPU "
        "in under an hour (liveloop.policy.train.TRAIN_RECIPES)",
    )
    t.add_argument("--steps", type=int, default=None, help="gradient steps (reach_grasp 3000, pusht 8414)")
    t.add_argument("--demos", type=int, default=None, help="successful expert episodes (reach_grasp 300, pusht 600)")
    t.add_argument("--batch-size", type=int, default=None, help="(default 128)")
    t.add_argument("--lr", type=float, default=None, help="(reach_grasp 5e-4, pusht 1e-3)")
    t.add_argument("--down-dims", default=None, help="U-Net channels per level (reach_grasp 32,64; pusht 64,128)")
    t.add_argument("--gripper-scale", type=float, default=1.0, help="0.1 trains the RTI scale variant")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (reach_grasp 1, pusht 2)")
    t.add_argument("--out", type=Path, default=None, help="checkpoint path (default: the shipped name)")
    t.add_argument("--log", type=Path, default=None, help="progress log file (default: stderr)")
    t.add_argument("--demos-file", type=Path, default=None, help="demonstrations from `liveloop policy demos`")
    t.add_argument("--checkpoint-every", type=int, default=500, help="save (and re-pick K') every N steps")
    t.add_argument("--max-minutes", type=float, default=0.0, help="stop and save after this long (0 = no limit)")
    t.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    t.set_defaults(func=_train)

    k = psub.add_parser("kprime", help="re-pick RTI's K' for a checkpoint by its task's rule")
    k.add_argument("checkpoint", help="name or path")
    k.add_argument("--episodes", type=int, default=20, help="closed-loop episodes (tasks that pick on the policy)")
    k.add_argument("--demos", type=int, default=50, help="expert episodes (tasks that pick on demonstrations)")
    k.add_argument("--write", action="store_true", help="save the new K' into the checkpoint")
    k.add_argument("--threads", type=int, default=1)
    k.set_defaults(func=_kprime)

    d = psub.add_parser("demos", help="run the task's scripted expert and save its successful episodes")
    d.add_argument("--task", default="reach_grasp")
    d.add_argument("--demos", type=int, default=300, help="successful episodes to keep")
    d.add_argument("--max-attempts", type=int, default=5000)
    d.add_argument("--seed", type=int, default=0, help="as train's --seed: the same seeds train would use")
    d.add_argument("--out", type=Path, required=True, help=".npz file")
    d.set_defaults(func=_demos)

    e = psub.add_parser("eval", help="roll the policy out and print success and ms per decision")
    e.add_argument("--task", default="reach_grasp")
    e.add_argument("--sampler", default="rti", choices=SAMPLERS)
    e.add_argument("--checkpoint", default=None, help="name or path (default: the task's shipped checkpoint)")
    e.add_argument("--episodes", type=int, default=50)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--seeds", type=int, default=1, help="repeat over this many seeds")
    e.add_argument("--timing-episodes", type=int, default=3, help="single episodes timed at batch 1")
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=_eval)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def default_checkpoint_name(task: str, gripper_scale: float = 1.0) -> str:
    return task if gripper_scale == 1.0 else f"{task}_scale"


def _train(args: argparse.Namespace) -> int:
    from liveloop.policy.model import CHECKPOINT_DIR
    from liveloop.policy.train import recipe_config, train

    try:
        cfg = recipe_config(
            args.task,
            n_demos=args.demos,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            gripper_scale=args.gripper_scale,
            down_dims=None if args.down_dims is None else tuple(int(d) for d in args.down_dims.split(",")),
            seed=args.seed,
            threads=args.threads,
            demos_file=str(args.demos_file or ""),
            checkpoint_every=args.checkpoint_every,
            max_minutes=args.max_minutes,
        )
    except ValueError as exc:
        print(f"liveloop policy train: {exc}", file=sys.stderr)
        return 2
    out = args.out or CHECKPOINT_DIR / f"{default_checkpoint_name(args.task, args.gripper_scale)}.pt"
    if args.log is not None:
        with open(args.log, "a", buffering=1) as log:
            train(cfg, out, log=log, device=args.device)
    else:
        train(cfg, out, log=sys.stderr, device=args.device)
    print(f"saved {out}")
    return 0


def _kprime(args: argparse.Namespace) -> int:
    import torch

    from liveloop.policy.kprime import pick_k_prime
    from liveloop.policy.model import DiffusionPolicy, resolve_checkpoint
    from liveloop.policy.tasks import KPrimePairs, get_task
    from liveloop.policy.train import collect_demos, consecutive_pairs, make_windows

    torch.set_num_threads(args.threads)
    path = resolve_checkpoint(args.checkpoint)
    policy = DiffusionPolicy.load(path)
    task = get_task(policy.config.task)
    demo_pairs = None
    if task.k_prime_pairs is KPrimePairs.DEMOS:
        demos = collect_demos(task, args.demos, 5000, seed=10_000)
        _, act_w, ep_idx = make_windows(demos.episodes, policy.config.horizon, policy.config.n_obs)
        demo_pairs = consecutive_pairs(act_w, ep_idx)
    old = policy.rti.k_prime
    policy.rti, rule = pick_k_prime(policy, demo_pairs, n_episodes=args.episodes)
    print(f"{path}: K' {old} -> {policy.rti.k_prime}, timesteps {policy.rti.timesteps} ({rule})")
    if args.write:
        policy.meta["k_prime_rule"] = rule
        policy.save(path)
        print(f"saved {path}")
    return 0


def _demos(args: argparse.Namespace) -> int:
    from liveloop.policy.tasks import get_task
    from liveloop.policy.train import collect_demos, save_demos

    task = get_task(args.task)
    demos = collect_demos(task, args.demos, args.max_attempts, seed=10_000 + args.seed, progress=True)
    save_demos(args.out, task.name, demos)
    steps = sum(len(o) for o, _ in demos.episodes)
    print(
        f"saved {args.out}: {len(demos.episodes)} {task.name} episodes ({steps} steps), "
        f"expert success {demos.expert_success_rate:.1%} over {demos.attempted} attempts"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    from liveloop.policy.evaluate import evaluate_sampler, load_for_sampler

    torch.set_num_threads(args.threads)
    policy = load_for_sampler(args.task, args.sampler, args.checkpoint)
    result = evaluate_sampler(
        policy,
        args.sampler,
        n_episodes=args.episodes,
        seed=args.seed,
        n_seeds=args.seeds,
        timing_episodes=args.timing_episodes,
        progress=True,
    )
    print(
        f"{args.task} {args.sampler}: success {result.success:.1%} over {result.episodes} episodes, "
        f"{result.nfe_per_decision} NFE per decision, {result.ms_per_decision_p50:.1f} ms per decision (p50), "
        f"outcomes {result.outcomes}"
        + ("" if result.mean_max_coverage is None else f", mean best coverage {result.mean_max_coverage:.3f}")
    )
    return 0
