"""Fixtures for end-to-end tests: `liveloop serve` as a real process and headless Debian Chromium.

Chromium is driven by the `playwright` Python package with the system browser
(`/usr/bin/chromium`); `playwright install` is never needed. Tests are skipped
(with the reason) where Chromium is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LIVELOOP_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_args(mic_wav: str | Path | None = None) -> list[str]:
    args = list(CHROMIUM_FLAGS)
    if mic_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={mic_wav}")
    return args


def need_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


class ServeProcess:
    """`python -m liveloop serve --port 0` as a subprocess; `url` is what it printed."""

    def __init__(self, *extra: str, timeout_s: float = 60.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "liveloop", "serve", "--port", "0", *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        self.url = ""
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"open (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.close()
            raise RuntimeError("liveloop serve did not print its URL:\n" + "".join(self.lines))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def serve() -> Iterator[ServeProcess]:
    p = ServeProcess()
    try:
        yield p
    finally:
        p.close()
