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
    t.add_argument("--task", default="reach_grasp", help="reach_grasp (default) or pusht")
    t.add_argument("--steps", type=int, default=3000, help="gradient steps (default 3000)")
    t.add_argument("--demos", type=int, default=300, help="successful expert episodes to train on")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--down-dims", default="32,64", help="U-Net channels per level (default 32,64)")
    t.add_argument("--gripper-scale", type=float, default=1.0, help="0.1 trains the RTI scale variant")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    t.add_argument("--out", type=Path, default=None, help="checkpoint path (default: the shipped name)")
    t.add_argument("--log", type=Path, default=None, help="progress log file (default: stderr)")
    t.set_defaults(func=_train)

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
    from liveloop.policy.train import TrainConfig, train

    cfg = TrainConfig(
        task=args.task,
        n_demos=args.demos,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        gripper_scale=args.gripper_scale,
        down_dims=tuple(int(d) for d in args.down_dims.split(",")),
        seed=args.seed,
        threads=args.threads,
    )
    out = args.out or CHECKPOINT_DIR / f"{default_checkpoint_name(args.task, args.gripper_scale)}.pt"
    if args.log is not None:
        with open(args.log, "a", buffering=1) as log:
            train(cfg, out, log=log)
    else:
        train(cfg, out, log=sys.stderr)
    print(f"saved {out}")
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
    )
    return 0
