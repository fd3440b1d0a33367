"""Voice-to-voice latency of `liveloop serve`, through a real browser and through the WebSocket API.

Turns: spoken prompts (the bundled Piper voice, so the end of speech is known to
the sample) with pauses between them, played as the microphone:

- browser: headless Debian Chromium with the WAV as its fake microphone, the page's
  latency probe (`#probe=1`) timing, on the audio itself, the end of the user's speech
  in the captured microphone signal and the arrival of the agent's voice on the
  received track;
- ws: a Python `websockets` client streaming the WAV in real time (20 ms frames)
  and timing the first binary audio frame of each reply.

Voice-to-voice = first agent audio at the client − end of user speech, per turn,
p50/p95 per path. `dashboard_vs_client_ms` = median |server's own number (the
`audio.start` event the dashboard shows) − the client's|. The per-stage breakdown
(endpointing, ASR flush, responder, TTS first audio, egress) is the median of
the server's `audio.start.stages`.

    python benchmarks/voice_to_voice.py [--quick] [--out benchmarks/results/voice_to_voice.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, ServeProcess, chromium_args  # noqa: E402
from tests.e2e.media import prompts_wav  # noqa: E402

PROMPTS = ["Hello there", "What do you see", "Go left", "Stop"]
GAP_S = 4.5


def pct(xs: list[float], q: float) -> float | None:
    return float(np.percentile(xs, q)) if xs else None


async def browser_turns(url: str, wav: Path, n_turns: int, timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(wav))
        page = await browser.new_page()
        await page.goto(url.split("#")[0] + "#probe=1" + ("&" + url.split("#")[1] if "#" in url else ""))
        await page.click("#connect")
        await page.wait_for_function("window.liveloop.probe !== undefined", timeout=30_000)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = await page.evaluate("window.liveloop.probe.micEnds.length")
            if n >= n_turns + 1:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(GAP_S)
        probe = json.loads(await page.evaluate("JSON.stringify(window.liveloop.probe)"))
        events = json.loads(
            await page.evaluate("JSON.stringify(window.liveloop.events.filter(e => e.type === 'audio.start'))")
        )
        await page.screenshot(path=str(Path(tempfile.gettempdir()) / "liveloop_v2v_browser.png"))
        await browser.close()
    turns = []
    starts = probe["agentStarts"]
    for end in probe["micEnds"][:n_turns]:
        agent = next((s for s in starts if end < s < end + GAP_S * 1000), None)
        if agent is None:
            turns.append({"client_ms": None, "server_ms": None})
            continue
        server = next((e for e in events if end < e["received_ms"] < agent + 1000), None)
        turns.append(
            {
                "client_ms": agent - end,
                "server_ms": server.get("voice_to_voice_ms") if server else None,
                "stages": server.get("stages") if server else None,
            }
        )
    return {"turns": turns}


async def ws_turns(url: str, wav: Path, ends_s: list[float], n_turns: int) -> dict:
    import websockets

    ws_url = url.replace("http://", "ws://").split("#")[0] + "ws"
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    frame_bytes = 640  # 20 ms
    file_s = len(pcm) / 32000
    turns: list[dict] = []
    async with websockets.connect(ws_url, max_size=None) as ws:
        sent_end: list[float] = []  # client time of each prompt's end of speech
        first_audio: list[float] = []
        servers: list[dict] = []
        waiting = False

        async def speak() -> None:
            t0 = time.monotonic()
            loops = 0
            while len(sent_end) < n_turns:
                base = loops * file_s
                for i in range(0, len(pcm), frame_bytes):
                    # real time: frame k leaves at t0 + (its end) on the monotonic clock
                    k_end = base + (i + frame_bytes) / 32000
                    await asyncio.sleep(max(0.0, t0 + k_end - time.monotonic()))
                    await ws.send(pcm[i : i + frame_bytes])
                    sent_t = time.monotonic()
                    for e in ends_s:
                        if i / 32000 <= e < (i + frame_bytes) / 32000:
                            sent_end.append(sent_t - 0.02 + (e - i / 32000))
                    if len(sent_end) >= n_turns and i / 32000 > ends_s[(n_turns - 1) % len(ends_s)] + GAP_S - 0.5:
                        return
                loops += 1

        async def listen() -> None:
            nonlocal waiting
            async for msg in ws:
                if isinstance(msg, bytes):
                    if waiting:
                        first_audio.append(time.monotonic())
                        waiting = False
                    continue
                ev = json.loads(msg)
                if ev["type"] == "agent.reply":
                    waiting = True
                elif ev["type"] == "audio.start":
                    servers.append(ev)
                if len(first_audio) >= n_turns and len(servers) >= n_turns:
                    return

        async with asyncio.TaskGroup() as tg:
            tg.create_task(speak())
            listener = tg.create_task(listen())
            try:
                async with asyncio.timeout(n_turns * (GAP_S + 3) + 30):
                    await listener
            except TimeoutError:
                listener.cancel()
    for end in sent_end[:n_turns]:
        agent = next((a for a in first_audio if end < a < end + GAP_S), None)
        idx = first_audio.index(agent) if agent is not None else None
        server = servers[idx] if idx is not None and idx < len(servers) else None
        turns.append(
            {
                "client_ms": None if agent is None else 1000 * (agent - end),
                "server_ms": server.get("voice_to_voice_ms") if server else None,
                "stages": server.get("stages") if server else None,
            }
        )
    return {"turns": turns}


def summarise(res: dict) -> dict:
    client = [t["client_ms"] for t in res["turns"] if t["client_ms"] is not None]
    diffs = [
        abs(t["client_ms"] - t["server_ms"])
        for t in res["turns"]
        if t["client_ms"] is not None and t["server_ms"] is not None
    ]
    stages: dict[str, list[float]] = {}
    for t in res["turns"]:
        for k, v in (t.get("stages") or {}).items():
            stages.setdefault(k, []).append(v)
    return {
        "turns": len(res["turns"]),
        "answered": len(client),
        "p50_ms": pct(client, 50),
        "p95_ms": pct(client, 95),
        "server_p50_ms": pct([t["server_ms"] for t in res["turns"] if t["server_ms"] is not None], 50),
        "dashboard_vs_client_ms": pct(diffs, 50),
        "stages_p50_ms": {k: pct(v, 50) for k, v in stages.items()},
        "raw": res["turns"],
    }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 turns per path instead of 20")
    ap.add_argument("--out", default="benchmarks/results/voice_to_voice.json")
    args = ap.parse_args()
    n = 3 if args.quick else 20
    load_before = os.getloadavg()[0]
    wav, ends, file_s = prompts_wav(Path(tempfile.gettempdir()) / "liveloop_v2v_prompts.wav", PROMPTS, gap_s=GAP_S)
    serve = ServeProcess("--no-vision", timeout_s=180)
    try:
        if "✗" in "".join(serve.lines) or "unavailable" in "".join(serve.lines):
            print("".join(serve.lines))
        browser = summarise(await browser_turns(serve.url, wav, n, timeout_s=n * file_s / len(PROMPTS) + 90))
        ws = summarise(await ws_turns(serve.url, wav, ends, n))
    finally:
        serve.close()
    doc = {
        "benchmark": "voice_to_voice",
        "quick": args.quick,
        "prompts": PROMPTS,
        "browser": browser,
        "ws": ws,
        "dashboard_vs_client_ms": pct(
            [v for v in (browser["dashboard_vs_client_ms"], ws["dashboard_vs_client_ms"]) if v is not None], 50
        ),
        "target": {"p50_ms": 300, "dashboard_vs_client_ms": 10},
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_1m_before": load_before,
            "load_1m_after": os.getloadavg()[0],
        },
        "serve_log": serve.lines[-10:],
    }
    print(
        f"\n{'path':8s} {'turns':>5s} {'answered':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'server p50':>10s} "
        f"{'|dash-client| ms':>16s}"
    )
    for name, r in (("browser", browser), ("ws", ws)):
        f = lambda v: "–" if v is None else f"{v:.0f}"  # noqa: E731
        print(
            f"{name:8s} {r['turns']:5d} {r['answered']:8d} {f(r['p50_ms']):>8s} {f(r['p95_ms']):>8s} "
            f"{f(r['server_p50_ms']):>10s} {f(r['dashboard_vs_client_ms']):>16s}"
        )
        print(
            "         stages p50: " + ", ".join(f"{k} {v:.0f}" for k, v in r["stages_p50_ms"].items() if v is not None)
        )
    print(f"load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
