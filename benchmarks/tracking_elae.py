"""e-LAE (PVT++): is the tracker's output right when it is *used*, and does prediction help?

Sequences (`liveloop.vision.synth.benchmark_specs`): 640×480 at 30 fps, a real
face (carphone clip) moving over a real video background (bikes clip) along
held-out TUD-Stadtmitte pedestrian paths (1× and 3× speed) and synthetic
manoeuvres (circle, zig-zag, dash, stop-and-go), with distractor patches and an
occluder bar; exact ground-truth boxes.

Online run, on this CPU, with the tracker's real per-frame cost: a simulated
clock starts at 0; the tracker takes the latest frame captured by now (frames
that arrived while it was busy are skipped, as on a latest-wins edge; a
``max_fps`` config also waits out its period, as `liveloop serve`'s vision loop
does), its measured cost (around `TrackerCore.feed`, then the predictors')
advances the clock, and the output becomes available then. The cost is the
process's CPU time by default (``--clock cpu``): on a machine shared with other
jobs, wall time mostly measures the others; ``--clock wall`` uses elapsed time
(both are reported: ``per_frame_ms_p50`` on the chosen clock,
``per_frame_wall_ms_p50`` elapsed). Every output is kept with its availability
time; `liveloop.vision.elae.score_online` scores, for each ground-truth frame i
and σ ∈ {0, 0.02, …, 1}, the latest output available at (i + σ)/30 s.

What an output is used for. The judge scores an output against frame i: it is
*used for* frame i's time, i/30 s, whichever σ. A raw output is one box (the
frame it came from). A predictive output is what PVT++ makes: a box for each
frame it may be used for, from the frame it came from up to the frame the
output after it is expected by (`PredictorCore.boxes_at` at those frames'
times). Variants, all on the same schedule:

    offline                    every frame tracked, each scored against its own frame (no latency)
    online_raw                 the tracker's box as is
    online_kalman              PVT++ with constant-velocity extrapolation (the tracker's Kalman velocity)
    online_predictive          PVT++ with the learned predictor (predictor_mlp.npz)
    online_predictive_one_box  the learned predictor's one box at valid_at = done + L, used for every
                               frame (what the graph's Predictor node emits; L = the consumer's measured
                               wait: half the mean interval between outputs, less the judge's mean
                               tolerance of half a frame; never negative)

``latency_split`` says where the score is made: ``latency_frames_p50`` is how
long after its frame's capture an output is available (tracker + predictor, in
frames). On a tracker that keeps up with every frame (``blazeface_k1``), for σ
below it a frame is scored with the previous frame's output (a prediction over
a frame), from it on with its own frame's output, whose box at its own frame's
time is the tracker's box (the offline output) for every variant, except a
coasting track's under the learned predictor: there only the σ below can gain.
(A tracker that skips frames is scored on predictions for the frames it skipped
at every σ.) ``mauc_below`` and ``mauc_from`` are each variant's mean AUC over
those two σ ranges.

``predictor_overhead_ms`` is the learned predictor's cost per output in the
online_predictive variant (`boxes_at` for every track and every frame it may be
used for, its history update included); ``one_box_predictor_ms_p50`` is
`feed`'s (every track at valid_at plus its 1 s forecast: what the node runs).

Tracker configurations (all real detectors on this CPU): ``blazeface_k1`` (the
main one, the `vision.Tracker` node's default, whose numbers fill the issue's
JSON keys), ``serve_k3_15fps`` (what `liveloop serve` runs: `VisionConfig`'s
BlazeFace every 3rd frame with NCC between, at most 15 outputs a second, so
each output is used for 2 frames or more), ``blazeface_k3_ncc`` (the "detect
every 3" knob at full rate), and ``haar_k1`` / ``haar_full_k1`` (Haar cascade
at half and full scale: slow trackers, latency over a frame; run on the shorter
sequence set because their offline pass is long). The tracked target is the
track that overlaps the first ground-truth box (the usual single-object init);
if its id dies, the track that best overlaps the last output takes over.

    .venv/bin/python benchmarks/tracking_elae.py [--quick] [--out benchmarks/results/tracking_elae.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveloop.vision.appearance import AppearanceKind
from liveloop.vision.association import iou
from liveloop.vision.elae import SIGMAS, OnlineScore, score_offline, score_online
from liveloop.vision.predictor import PredictMethod, PredictorConfig, PredictorCore
from liveloop.vision.synth import FPS, Sequence, benchmark_specs
from liveloop.vision.tracker import TrackerConfig, TrackerCore
from liveloop.vision.types import Track, TrackStatus

NAN4 = np.full(4, np.nan)


class TargetLock:
    """Single-object evaluation of a multi-object tracker: follow one object through track ids.

    Starts on the track that best overlaps the first ground-truth box (the usual SOT init) and
    then never looks at the ground truth again. It remembers where the object was last *measured*
    (a confirmed track); when its track only coasts (no measurement) and a measured track appears
    near that place, or when its track dies, it moves to the measured track nearest to it
    (within 3 box sizes).
    """

    def __init__(self, init_box: np.ndarray) -> None:
        self.init_box = init_box
        self.tid: int | None = None
        self.anchor: np.ndarray = init_box  # last measured box of the object

    def _nearest_measured(self, tracks: list[Track]) -> Track | None:
        a = self.anchor
        ac = a[:2] + a[2:] / 2
        size = float(np.sqrt(a[2] * a[3]))
        best, best_d = None, 3.0
        for t in tracks:
            if t.status is not TrackStatus.CONFIRMED:
                continue
            ov = float(iou(t.box.as_array(), a)[0])
            d = float(np.hypot(t.box.cx - ac[0], t.box.cy - ac[1])) / size - ov  # overlap breaks ties
            if d < best_d:
                best, best_d = t, d
        return best

    def pick(self, tracks: list[Track]) -> Track | None:
        by_id = {t.track_id: t for t in tracks}
        cur = by_id.get(self.tid) if self.tid is not None else None
        if cur is None or cur.status is TrackStatus.COASTING:
            other = self._nearest_measured(tracks)
            if other is not None:
                cur = other
                self.tid = other.track_id
        if cur is not None and cur.status is TrackStatus.CONFIRMED:
            self.anchor = cur.box.as_array()
        return cur


def ns(t_s: float) -> int:
    return round(t_s * 1e9)


def run_offline(seq: Sequence, cfg: TrackerConfig) -> np.ndarray:
    trk = TrackerCore(cfg)
    lock = TargetLock(seq.gt[0])
    out = np.full((seq.n_frames, 4), np.nan)
    for i in range(seq.n_frames):
        t = lock.pick(trk.feed(seq.frame(i), ns(i / FPS)))
        if t is not None:
            out[i] = t.box.as_array()
    return out


@dataclass
class OnlineRun:
    done: dict[str, list[float]] = field(default_factory=dict)
    boxes: dict[str, list[np.ndarray]] = field(default_factory=dict)  # per output: (K, 4), boxes for K frames
    first: dict[str, list[int]] = field(default_factory=dict)  # per output: the frame its first box is for
    tracker_ms: list[float] = field(default_factory=list)  # on the clock that drives the simulation
    tracker_wall_ms: list[float] = field(default_factory=list)
    predictor_ms: dict[str, list[float]] = field(default_factory=dict)
    processed: int = 0

    def add(self, variant: str, done_s: float, boxes: np.ndarray, first_frame: int) -> None:
        self.done.setdefault(variant, []).append(done_s)
        self.boxes.setdefault(variant, []).append(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        self.first.setdefault(variant, []).append(first_frame)

    def latency_frames(self, variant: str) -> np.ndarray:
        """Per output: frames from its frame's capture to when it became available."""
        return (np.array(self.done[variant]) - np.array(self.first[variant]) / FPS) * FPS

    def score(self, variant: str, gt: np.ndarray) -> OnlineScore:
        rows = self.boxes[variant]
        k = max(len(b) for b in rows)
        padded = np.stack([np.concatenate([b, np.repeat(b[-1:], k - len(b), axis=0)]) for b in rows])  # hold the last
        return score_online(gt, np.array(self.done[variant]), padded, fps=FPS,
                            out_first_frame=np.array(self.first[variant]))  # fmt: skip


# What a step costs. "cpu": the process's CPU time (all its threads), i.e. what the work costs this CPU
# without the other tenants of a shared machine; "wall": elapsed time, contention included.
COST_CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
cost_clock = COST_CLOCKS["cpu"]
MAX_FRAMES_AHEAD = 30  # a predictive output holds boxes for at most this many frames (1 s)


def run_online(seq: Sequence, cfg: TrackerConfig, max_fps: float | None = None) -> OnlineRun:
    trk = TrackerCore(cfg)
    # variant → (predictor, per_frame): per-frame variants ask `boxes_at` for every frame the output may be
    # used for; the one-box variant takes `feed`'s box at valid_at (and makes the 1 s forecast, as the node does)
    preds = {
        "online_kalman": (PredictorCore(PredictorConfig(method=PredictMethod.KALMAN)), True),
        "online_predictive": (PredictorCore(PredictorConfig(method=PredictMethod.LEARNED)), True),
        "online_predictive_one_box": (PredictorCore(PredictorConfig(method=PredictMethod.LEARNED)), False),
    }
    lock = TargetLock(seq.gt[0])
    run = OnlineRun()
    t = 0.0
    j_prev = -1
    last_done: float | None = None
    interval_ema = 1.0 / FPS if max_fps is None else 1.0 / max_fps
    while True:
        j = int(np.floor(t * FPS + 1e-9))
        if j >= seq.n_frames:
            break
        if j <= j_prev:  # nothing new yet: wait for the next frame
            t = (j_prev + 1) / FPS
            continue
        j_prev = j
        started = t
        frame = seq.frame(j)  # rendering is the camera's work, not timed
        w0, c0 = time.perf_counter(), cost_clock()
        tracks = trk.feed(frame, ns(j / FPS))
        c_trk = cost_clock() - c0
        run.tracker_wall_ms.append((time.perf_counter() - w0) * 1e3)
        run.tracker_ms.append(c_trk * 1e3)
        run.processed += 1
        done = t + c_trk
        if last_done is not None:
            interval_ema += 0.2 * ((done - last_done) - interval_ema)
        last_done = done
        target = lock.pick(tracks)
        run.add("online_raw", done, target.box.as_array() if target else NAN4, j)
        latency_s = max(0.0, interval_ema / 2 - 0.5 / FPS)
        # the frames this output may be used for: from its own up to the one the next output is expected by
        j_last = min(j + MAX_FRAMES_AHEAD, int(np.ceil((done + 1.5 * interval_ema) * FPS)))
        use_ns = np.array([ns(i / FPS) for i in range(j, max(j, j_last) + 1)], dtype=np.int64)
        c_pred_max = 0.0
        k_target = next(k for k, tr in enumerate(tracks) if tr is target) if target is not None else -1
        for name, (pred, per_frame) in preds.items():
            c0 = cost_clock()
            if per_frame:  # every track, as a consumer would need them all
                boxes = pred.boxes_at(tracks, use_ns)  # (N, K, 4)
            else:
                boxes = np.array([p.box.as_array() for p in pred.feed(tracks, ns(done), ns(latency_s))])
            c = cost_clock() - c0
            run.predictor_ms.setdefault(name, []).append(c * 1e3)
            c_pred_max = max(c_pred_max, c)
            run.add(name, done + c, boxes[k_target] if k_target >= 0 else NAN4, j)
        t = done + c_pred_max
        if max_fps is not None:
            t = max(t, started + 1.0 / max_fps)  # the vision loop's period (liveloop serve: VisionConfig.max_fps)
    return run


@dataclass(frozen=True)
class Config:
    name: str
    tracker: TrackerConfig
    doc: str
    short: bool = False  # a slow tracker: run on the --quick sequence set only (its offline pass is long)
    max_fps: float | None = None  # at most this many frames tracked a second (None: as fast as it can)


def _serve_config() -> Config:
    from liveloop.apps.vision import VisionConfig

    v = VisionConfig()
    return Config(
        "serve_k3_15fps",
        TrackerConfig(detector=v.detector, detect_every=v.detect_every),
        f"what liveloop serve runs: {v.detector} every {v.detect_every} frames, NCC between, at most {v.max_fps:g} fps",
        max_fps=v.max_fps,
    )


CONFIGS = (
    Config("blazeface_k1", TrackerConfig(detector="blazeface", detect_every=1), "BlazeFace every frame (default mode)"),
    _serve_config(),
    Config(
        "blazeface_k3_ncc",
        TrackerConfig(detector="blazeface", detect_every=3, appearance=AppearanceKind.NCC),
        "BlazeFace every 3rd frame, NCC template tracker between",
    ),
    Config(
        "haar_k1",
        TrackerConfig(detector="haar_face", detect_every=1, appearance=AppearanceKind.NONE),
        "Haar cascade (half scale) every frame: a slow tracker, latency > 1 frame",
        short=True,
    ),
    Config(
        "haar_full_k1",
        TrackerConfig(
            detector="haar_face", detector_kwargs=(("scale", 1.0),), detect_every=1, appearance=AppearanceKind.NONE
        ),
        "Haar cascade (full scale) every frame: a slower tracker, latency of several frames",
        short=True,
    ),
)
VARIANTS = ("online_raw", "online_kalman", "online_predictive", "online_predictive_one_box")
MAIN = "blazeface_k1"


def evaluate(cfg: Config, specs: list, log: bool = True) -> dict:
    per_seq = []
    all_trk_ms: list[float] = []
    all_wall_ms: list[float] = []
    all_pred_ms: dict[str, list[float]] = {}
    all_lat: list[float] = []
    for spec in specs:
        seq = Sequence(spec)
        off = run_offline(seq, cfg.tracker)
        off_auc, off_dp = score_offline(off, seq.gt)
        on = run_online(seq, cfg.tracker, cfg.max_fps)
        row = {"sequence": spec.name, "frames": seq.n_frames, "processed": on.processed,
               "offline": {"auc": off_auc, "dp": off_dp}}  # fmt: skip
        for variant in VARIANTS:
            sc = on.score(variant, seq.gt)
            row[variant] = {"mauc": sc.mauc, "mdp": sc.mdp, "auc_by_sigma": sc.auc.tolist()}
        row["tracker_ms_p50"] = float(np.median(on.tracker_ms))
        per_seq.append(row)
        all_trk_ms += on.tracker_ms
        all_lat += on.latency_frames("online_predictive").tolist()
        all_wall_ms += on.tracker_wall_ms
        for k, v in on.predictor_ms.items():
            all_pred_ms.setdefault(k, []).extend(v)
        if log:
            print(
                f"  {cfg.name:18s} {spec.name:14s} offline {off_auc:.3f}  raw {row['online_raw']['mauc']:.3f}  "
                f"kalman {row['online_kalman']['mauc']:.3f}  learned {row['online_predictive']['mauc']:.3f}  "
                f"tracker {row['tracker_ms_p50']:.1f} ms  processed {on.processed}/{seq.n_frames}",
                flush=True,
            )

    def mean(path: tuple[str, str]) -> float:
        return float(np.mean([r[path[0]][path[1]] for r in per_seq]))

    trk_p50 = float(np.median(all_trk_ms))
    pred_p50 = float(np.median(all_pred_ms["online_predictive"]))
    sig_curves = {v: np.mean([r[v]["auc_by_sigma"] for r in per_seq], axis=0).tolist() for v in VARIANTS}
    # Where the AUC is won or lost: for σ below the output latency a frame is scored with an earlier frame's
    # output (a prediction over a frame or more); from it on, mostly with its own frame's (τ = 0), which is
    # the offline output unless the predictor changes the box at its own frame's time (a coasting track).
    lat = float(np.median(all_lat))
    below = lat > SIGMAS
    latency_split = {"latency_frames_p50": lat, "sigmas_below": int(below.sum()), "sigmas": len(SIGMAS)}
    for v in VARIANTS:
        c = np.asarray(sig_curves[v])
        latency_split[v] = {"mauc_below": float(c[below].mean()) if below.any() else None,
                            "mauc_from": float(c[~below].mean()) if (~below).any() else None}  # fmt: skip
    return {
        "doc": cfg.doc,
        "max_fps": cfg.max_fps,
        "offline": {"auc": mean(("offline", "auc")), "dp": mean(("offline", "dp"))},
        **{v: {"mauc": mean((v, "mauc")), "mdp": mean((v, "mdp"))} for v in VARIANTS},
        "per_frame_ms_p50": trk_p50,
        "per_frame_ms_p95": float(np.percentile(all_trk_ms, 95)),
        "predictor_overhead_ms": pred_p50,
        "predictor_overhead_pct": 100 * pred_p50 / trk_p50,
        "kalman_predictor_ms_p50": float(np.median(all_pred_ms["online_kalman"])),
        "one_box_predictor_ms_p50": float(np.median(all_pred_ms["online_predictive_one_box"])),
        "per_frame_wall_ms_p50": float(np.median(all_wall_ms)),
        "per_frame_wall_ms_p95": float(np.percentile(all_wall_ms, 95)),
        "frames_processed_share": float(
            np.sum([r["processed"] for r in per_seq]) / np.sum([r["frames"] for r in per_seq])
        ),
        "auc_by_sigma": sig_curves,
        "latency_split": latency_split,
        "sequences": per_seq,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 shorter sequences; the main, serve and Haar configs only")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tracking_elae.json")
    ap.add_argument(
        "--clock",
        choices=sorted(COST_CLOCKS),
        default="cpu",
        help="what advances the simulated clock: CPU time (default; fair on a shared machine) or wall time",
    )
    ap.add_argument("--configs", default="", help="comma-separated config names (default: all; --quick: fewer)")
    args = ap.parse_args()
    global cost_clock
    cost_clock = COST_CLOCKS[args.clock]

    specs = benchmark_specs(args.quick)
    short_specs = benchmark_specs(quick=True)
    configs = [c for c in CONFIGS if not args.quick or c.name in (MAIN, "serve_k3_15fps", "haar_k1")]
    if args.configs:
        configs = [c for c in CONFIGS if c.name in args.configs.split(",")]
    load_before = os.getloadavg()
    results = {}
    t0 = time.monotonic()
    for cfg in configs:
        print(f"{cfg.name}: {cfg.doc}", flush=True)
        results[cfg.name] = evaluate(cfg, short_specs if cfg.short else specs)
        results[cfg.name]["sequence_set"] = "quick" if cfg.short or args.quick else "full"
    load_after = os.getloadavg()

    print()
    print(f"e-LAE over {len(specs)} sequences (640x480, 30 fps); mAUC/mDP averaged over σ ∈ [0, 1] frames")
    hdr = (f"{'config':18s} {'offline AUC':>11s} {'raw mAUC':>9s} {'+Kalman':>8s} {'+learned':>9s} "
           f"{'learned/raw':>11s} {'1-box':>6s} {'ms/frame p50':>12s} {'wall p50':>8s} {'pred ms':>8s} "
           f"{'pred %':>7s} {'tracked':>7s}")  # fmt: skip
    print(hdr)
    for name, r in results.items():
        ratio = r["online_predictive"]["mauc"] / max(r["online_raw"]["mauc"], 1e-9)
        print(
            f"{name:18s} {r['offline']['auc']:11.3f} {r['online_raw']['mauc']:9.3f} {r['online_kalman']['mauc']:8.3f} "
            f"{r['online_predictive']['mauc']:9.3f} {ratio:11.2f} {r['online_predictive_one_box']['mauc']:6.3f} "
            f"{r['per_frame_ms_p50']:12.2f} {r['per_frame_wall_ms_p50']:8.2f} "
            f"{r['predictor_overhead_ms']:8.3f} {r['predictor_overhead_pct']:7.2f} {r['frames_processed_share']:7.0%}"
        )
    print(f"{'':18s} {'offline DP':>11s} {'raw mDP':>9s} {'+Kalman':>8s} {'+learned':>9s}")
    for name, r in results.items():
        print(f"{name:18s} {r['offline']['dp']:11.3f} {r['online_raw']['mdp']:9.3f} {r['online_kalman']['mdp']:8.3f} "
              f"{r['online_predictive']['mdp']:9.3f}")  # fmt: skip
    print("1-box: the learned predictor's one box at valid_at = done + L for every frame (the Predictor node's output)")

    main_name = MAIN if MAIN in results else next(iter(results))
    m = results[main_name]
    out = {
        "benchmark": "tracking_elae",
        "main_config": main_name,
        # the keys, for the main config
        "offline.auc": m["offline"]["auc"],
        "online_raw.mauc": m["online_raw"]["mauc"],
        "online_kalman.mauc": m["online_kalman"]["mauc"],
        "online_predictive.mauc": m["online_predictive"]["mauc"],
        "predictor_overhead_ms": m["predictor_overhead_ms"],
        "per_frame_ms_p50": m["per_frame_ms_p50"],
        "offline": m["offline"],
        "online_raw": m["online_raw"],
        "online_kalman": m["online_kalman"],
        "online_predictive": m["online_predictive"],
        "online_predictive_one_box": m["online_predictive_one_box"],
        "targets": {
            "predictive_mauc_ge_offline_auc": m["online_predictive"]["mauc"] >= m["offline"]["auc"],
            "predictive_over_raw": m["online_predictive"]["mauc"] / max(m["online_raw"]["mauc"], 1e-9),
            "predictive_ge_1.3x_raw": m["online_predictive"]["mauc"] >= 1.3 * m["online_raw"]["mauc"],
            "predictor_overhead_lt_5pct": m["predictor_overhead_pct"] < 5.0,
            "per_frame_le_15ms": m["per_frame_ms_p50"] <= 15.0,
        },
        "configs": results,
        "sequences": [s.name for s in specs],
        "quick": args.quick,
        "cost_clock": args.clock,
        "wall_s": time.monotonic() - t0,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": load_after,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    _plot(results, args.out.with_suffix(".png"))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; wrote {args.out}")
    return 0


def _plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items(), strict=True):
        styles = (("online_raw", "r-"), ("online_kalman", "g--"), ("online_predictive", "b-"),
                  ("online_predictive_one_box", "c:"))  # fmt: skip
        for v, style in styles:
            ax.plot(SIGMAS, r["auc_by_sigma"][v], style, label=f"{v} (mAUC {r[v]['mauc']:.3f})")
        ax.axhline(r["offline"]["auc"], color="k", ls=":", label=f"offline AUC {r['offline']['auc']:.3f}")
        ax.set_title(f"{name}: {r['per_frame_ms_p50']:.1f} ms/frame")
        ax.set_xlabel("permitted latency σ (frames)")
        ax.set_ylabel("success AUC")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
