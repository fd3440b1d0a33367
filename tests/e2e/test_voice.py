"""Spoken conversations end to end: a WAV as the browser's microphone, or streamed over /ws.

Needs the speech stack (liveloop.asr + liveloop.tts with their models); skipped with
the reason otherwise. Time bounds are generous on purpose: they stop a stuck test,
they are not latency assertions (benchmarks/voice_to_voice.py measures latency).
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, ServeProcess, chromium_args, need_chromium
from tests.e2e.media import speech_wav

pytestmark = pytest.mark.e2e
LONG_TEXT = (
    "please read this back to me slowly because it is a rather long sentence that takes the agent "
    "quite a few seconds to say out loud from the first word to the very last word of it"
)


@pytest.fixture(scope="module")
def voice_serve():
    p = ServeProcess("--no-vision", timeout_s=240)
    text = "".join(p.lines)
    if "unavailable" in text:
        p.close()
        pytest.skip("speech stack not available: " + text)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def prompt(tmp_path_factory) -> tuple[Path, float]:
    return speech_wav(tmp_path_factory.mktemp("wav") / "hello.wav", "Hello there", lead_s=1.0, tail_s=6.0)


async def _events(page, kind: str) -> list[dict]:
    return json.loads(await page.evaluate(f"JSON.stringify(window.liveloop.events.filter(e => e.type === '{kind}'))"))


async def test_browser_spoken_turn(voice_serve, prompt):
    need_chromium()
    from playwright.async_api import async_playwright

    wav, _ = prompt
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(wav))
        try:
            page = await browser.new_page()
            await page.goto(voice_serve.url + "#probe=1")
            await page.click("#connect")
            # the committed transcript of the spoken sentence reaches the page
            await page.wait_for_function(
                "window.liveloop.events.some(e => e.type === 'utterance.end' && e.text.length > 0)", timeout=60_000
            )
            utterance = next(e["text"] for e in await _events(page, "utterance.end") if e["text"])
            assert utterance in await page.inner_text("#transcript")  # what was heard is on the page
            # the agent answers with audio that arrives at the browser (RTCStats energy > 0)
            await page.wait_for_function("window.liveloop.audio.energy > 0", timeout=60_000)
            starts = await _events(page, "audio.start")
            assert starts and starts[0]["voice_to_voice_ms"] > 0
            # captions arrive with the audio, and the dashboard shows the voice-to-voice path
            await page.wait_for_function("window.liveloop.events.some(e => e.type === 'caption')", timeout=30_000)
            await page.wait_for_function("(window.liveloop.budgets.voice_to_voice || {}).count >= 1", timeout=10_000)
            nums = await page.inner_text('[data-budget="voice_to_voice"] .nums')
            assert "p50" in nums and "–" not in nums.split("·")[0]
        finally:
            await browser.close()


async def test_browser_barge_in(voice_serve, tmp_path):
    """The agent reads a long text; the user speaks over it; its audio stops."""
    need_chromium()
    from playwright.async_api import async_playwright

    wav, _ = speech_wav(tmp_path / "interrupt.wav", "Stop", lead_s=9.0, tail_s=8.0)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(wav))
        try:
            page = await browser.new_page()
            await page.goto(voice_serve.url)
            await page.click("#connect")
            await page.wait_for_selector("#say-text:not([disabled])", timeout=30_000)
            await page.fill("#say-text", LONG_TEXT)
            await page.click("#say-send")
            await page.wait_for_function("window.liveloop.events.some(e => e.type === 'audio.flush')", timeout=90_000)
            flush = (await _events(page, "audio.flush"))[0]
            assert flush["reason"] == "barge_in" and flush["dropped_samples"] >= 0
            await page.wait_for_function("(window.liveloop.budgets.barge_in || {}).count >= 1", timeout=10_000)
        finally:
            await browser.close()


async def test_ws_spoken_turn_and_barge_in(voice_serve, prompt):
    import websockets

    wav, _ = prompt
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    url = voice_serve.url.replace("http://", "ws://").split("#")[0] + "ws"
    async with websockets.connect(url) as ws:
        events: list[dict] = []
        audio_bytes = 0

        async def stream(data: bytes) -> None:
            t0 = time.monotonic()
            for k, i in enumerate(range(0, len(data), 640)):  # 20 ms frames in real time
                await asyncio.sleep(max(0.0, t0 + (k + 1) * 0.02 - time.monotonic()))
                await ws.send(data[i : i + 640])

        async def until(pred, timeout: float) -> None:
            nonlocal audio_bytes
            async with asyncio.timeout(timeout):
                while not pred():
                    msg = await ws.recv()
                    if isinstance(msg, bytes):
                        audio_bytes += len(msg)
                    else:
                        events.append(json.loads(msg))

        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream(pcm))
            await until(lambda: any(e["type"] == "audio.start" for e in events), 90)
        utterance = next(e for e in events if e["type"] == "utterance.end")
        assert utterance["text"].strip()
        assert audio_bytes > 0
        # barge-in over the WS API: a long reply, then the user talks over it
        await ws.send(json.dumps({"type": "text", "text": LONG_TEXT}))
        await until(lambda: sum(e["type"] == "audio.start" for e in events) >= 2, 90)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream(pcm))
            await until(lambda: any(e["type"] == "audio.flush" for e in events), 90)
        flush = next(e for e in events if e["type"] == "audio.flush")
        assert flush["reason"] == "barge_in"
