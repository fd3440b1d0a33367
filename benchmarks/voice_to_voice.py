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
GAP_S = 7.0  # silence after each prompt: the reply (≈ 1–3 s of speech) ends before the next prompt


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
            n = await page.evaluate("window.liveloop.turnLog.filter(e => e.type === 'audio.start' && e.spoken).length")
            if n >= n_turns:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        probe = json.loads(await page.evaluate("JSON.stringify(window.liveloop.probe)"))
        events = json.loads(
            await page.evaluate(
                "JSON.stringify(window.liveloop.turnLog.filter(e => ['utterance.end', 'audio.start'].includes(e.type)))"
            )
        )
        await page.screenshot(path=str(Path(tempfile.gettempdir()) / "liveloop_v2v_browser.png"))
        await browser.close()
    # Pair by turn: utterance k (k-th utterance.end with text) is answered by turn k (its audio.start).
    # The user's end of speech is the last microphone speech end before the utterance was reported;
    # the agent's audio at the client is the first start the probe heard after the server sent it.
    utterances = [e for e in events if e["type"] == "utterance.end" and e["text"].strip()]
    starts = {e["turn"]: e for e in events if e["type"] == "audio.start" and e.get("spoken")}
    turns = []
    for k, u in enumerate(utterances[:n_turns], start=1):
        server = starts.get(k)
        end = nearest_end(probe["micEnds"], u["received_ms"], server, scale=1.0)
        agent = None
        if server is not None:
            sent = server["received_ms"]  # the data channel event left with the turn's first sample
            agent = next((a for a in probe["agentStarts"] if sent - 100 < a < sent + 1500), None)
        turns.append(
            {
                "client_ms": agent - end if agent is not None and end is not None else None,
                "server_ms": server["voice_to_voice_ms"] if server else None,
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
        utter_t: list[float] = []  # when each utterance.end (with text) arrived
        replying: int | None = None  # the turn whose reply text arrived and whose audio is next
        first_audio: dict[int, float] = {}  # turn → receive time of its first audio frame
        servers: dict[int, dict] = {}

        async def speak() -> None:
            t0 = time.monotonic()
            loops = 0
            while len(utter_t) < n_turns:
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
                    if len(utter_t) >= n_turns:
                        return
                loops += 1

        async def listen() -> None:
            nonlocal replying
            async for msg in ws:
                now = time.monotonic()
                if isinstance(msg, bytes):
                    if replying is not None:  # the first audio frame after a reply's text
                        first_audio[replying] = now
                        replying = None
                    continue
                ev = json.loads(msg)
                if ev["type"] == "utterance.end" and ev["text"].strip():
                    utter_t.append(now)
                elif ev["type"] == "agent.reply":
                    replying = ev["turn"]
                elif ev["type"] == "audio.start" and ev.get("spoken"):
                    servers[ev["turn"]] = ev
                if len(servers) >= n_turns:
                    return

        async with asyncio.TaskGroup() as tg:
            speaker = tg.create_task(speak())
            listener = tg.create_task(listen())
            try:
                async with asyncio.timeout(n_turns * (GAP_S + 3) + 60):
                    await listener
            except TimeoutError:
                listener.cancel()
            speaker.cancel()
    for k, ut in enumerate(utter_t[:n_turns], start=1):
        server = servers.get(k)
        end = nearest_end(sent_end, ut, server, scale=1e-3)
        agent = first_audio.get(k)
        turns.append(
            {
                "client_ms": 1000 * (agent - end) if agent is not None and end is not None else None,
                "server_ms": server.get("voice_to_voice_ms") if server else None,
                "stages": server.get("stages") if server else None,
            }
        )
    return {"turns": turns}


def nearest_end(ends: list[float], reported: float, server: dict | None, *, scale: float) -> float | None:
    """The client's end of speech for an utterance reported at `reported`.

    The server says how long it took from the end of speech to the report (endpointing + ASR
    flush); the client's end of speech is the one nearest to `reported` minus that (robust when
    replies lag behind the prompts). `scale` converts ms to the client's time unit.
    """
    before = [e for e in ends if e < reported]
    if not before:
        return None
    if server is None or not server.get("stages"):
        return before[-1]
    st = server["stages"]
    expected = reported - scale * (st.get("endpoint_ms", 0.0) + st.get("asr_final_ms", 0.0))
    return min(before, key=lambda e: abs(e - expected))


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
