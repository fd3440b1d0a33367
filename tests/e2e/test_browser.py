"""A real browser (headless Debian Chromium) against a real `liveloop serve` process."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import CHROMIUM, chromium_args, need_chromium

pytestmark = pytest.mark.e2e


async def _page(p, url: str, mic_wav=None):
    browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(mic_wav))
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    await page.goto(url)
    return browser, page


async def test_browser_connects_talks_and_receives_agent_audio(serve):
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser, page = await _page(p, serve.url)
        try:
            await page.click("#connect")
            await page.wait_for_function("window.liveloop.events.some(e => e.type === 'hello')", timeout=20_000)
            await page.wait_for_selector("#say-text:not([disabled])", timeout=10_000)
            await page.fill("#say-text", "hello there")
            await page.click("#say-send")
            await page.wait_for_function("window.liveloop.events.some(e => e.type === 'agent.reply')", timeout=10_000)
            reply = json.loads(
                await page.evaluate("JSON.stringify(window.liveloop.events.find(e => e.type === 'agent.reply'))")
            )
            assert reply["intent"] == "greet"
            text = await page.inner_text("#transcript")
            assert "hello there" in text and "How can I help you?" in text
            # the agent's paced speech track reaches the browser (RTCStats inbound-rtp audio)
            await page.wait_for_function("window.liveloop.audio.packets > 20", timeout=10_000)
            # the camera goes out through the region-aware canvas
            await page.wait_for_function("document.querySelector('#video-hint').textContent === 'camera on'")
            # the dashboard shows every budget, voice-to-voice among them
            names = await page.eval_on_selector_all(".budget .name", "els => els.map(e => e.textContent)")
            assert "voice to voice" in names and len(names) >= 5
            await page.click("#disconnect")
            assert await page.inner_text("#status") == "disconnected"
        finally:
            await browser.close()
