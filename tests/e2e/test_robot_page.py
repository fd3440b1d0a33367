"""A real browser (headless Debian Chromium) against a real `liveloop robot` process: the robot panel.

`liveloop robot` here is the whole app: embedded amqtt broker, the simulated robot in its own
process, the RTI policy graph and the voice agent's page (speech and vision off: no models to load).
Set LIVELOOP_SCREENSHOT_DIR to keep a screenshot of the page.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHROMIUM, ROOT, chromium_args, need_chromium

pytestmark = pytest.mark.e2e


def _start_robot_app(timeout_s: float = 120.0) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "liveloop",
        "robot",
        "--no-asr",
        "--no-tts",
        "--no-vision",
        "--http-port",
        "0",
        "--duration",
        "120",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"open (http://\S+)", line)
        if m:
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("liveloop robot did not print its URL")


async def _wait_for_text(page: Any, selector: str, text: str, timeout_ms: int = 20_000) -> None:
    await page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
        arg=[selector, text],
        timeout=timeout_ms,
    )
    assert text in await page.inner_text(selector)


async def test_robot_panel_draws_the_robot_and_its_buttons_steer_it() -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    proc, url = _start_robot_app()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args())
            page = await browser.new_page(viewport={"width": 1280, "height": 1200})
            try:
                await page.goto(url)
                # the panel appears only because this server has a robot, and robot.state events keep coming
                await page.wait_for_selector("#robot-panel", timeout=60_000)
                await page.wait_for_function("window.liveloopRobot.states > 5", timeout=60_000)
                await page.wait_for_function(
                    "window.liveloopRobot.last && window.liveloopRobot.last.mode === 'running'", timeout=60_000
                )
                # the panel's text is rendered on the next animation frame, after liveloopRobot.last is set:
                # wait for what a person sees, not for the state behind it
                await _wait_for_text(page, "#robot-status", "running")
                # the Stop button is a goal like a spoken "stop": the robot holds
                await page.click("#robot-panel button[title=stop]")
                await page.wait_for_function("window.liveloopRobot.last.pursuit.pursuit === 'hold'", timeout=20_000)
                await _wait_for_text(page, "#robot-pursuit", "holding still")
                await page.click("#robot-panel button[title='go left']")
                await page.wait_for_function("window.liveloopRobot.last.pursuit.pursuit === 'point'", timeout=20_000)
                shots = os.environ.get("LIVELOOP_SCREENSHOT_DIR")
                if shots:
                    await page.wait_for_timeout(1500)
                    await page.screenshot(path=str(Path(shots) / "robot_page.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
