"""Voice-to-voice latency of `liveloop serve`, through a real browser and through the WebSocket API.

Turns: spoken prompts (the bundled Piper voice, so the end of speech is known to
the sample) with pauses between them, played as the microphone:

- browser: headless Debian Chromium with the WAV as its fake microphone, the page's
  latency probe (`#probe=1`) timing the end of the user's speech in the captured
  microphone signal and the arrival of the agent's first encoded audio frame at the
  browser (an encoded-transform worker sees each Opus frame before the jitter
  buffer); when it was *heard* (the received track's level, after the jitter buffer
  and the decoder) is reported beside it;
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


async def browser_turns(url: str, wav: Path, n_turns: int, timeout_s: float, *, with_camera: bool = True) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(wav))
        page = await browser.new_page()
        camera = "" if with_camera else "&camera=0"
        await page.goto(url.split("#")[0] + "#probe=1" + camera + ("&" + url.split("#")[1] if "#" in url else ""))
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
        audio_stats = json.loads(await page.evaluate("JSON.stringify(window.liveloop.audio)"))
        events = json.loads(
            await page.evaluate(
                "JSON.stringify(window.liveloop.turnLog.filter(e => ['utterance.end', 'audio.start'].includes(e.type)))"
            )
        )
        await page.screenshot(path=str(Path(tempfile.gettempdir()) / "liveloop_v2v_browser.png"))
        await browser.close()
    # Pair by turn: each utterance.end names its turn (turn numbers may skip: a discarded speculative
    # reply uses one), and that turn's audio.start is the server's side of it.
    # The user's end of speech is the microphone speech end nearest to where the server says it was;
    # the agent's audio at the client is the first start the probe heard after the server sent it.
    utterances = [e for e in events if e["type"] == "utterance.end" and e["text"].strip()]
    starts = {e["turn"]: e for e in events if e["type"] == "audio.start" and e.get("spoken")}
    turns = []
    for k, u in enumerate(utterances[:n_turns], start=1):
        server = starts.get(u.get("turn", k))
        end = nearest_end(probe["micEnds"], u["received_ms"], server, scale=1.0)
        agent = heard = None
        if server is not None:
            sent = server["received_ms"]  # the data channel event left with the turn's first sample
            agent = next((a for a in probe["agentArrivals"] if sent - 100 < a < sent + 1500), None)
            heard = next((a for a in probe["agentStarts"] if sent - 100 < a < sent + 1500), None)
        turns.append(
            {
                "text": u["text"],  # what the server heard (the reply, and the semantic hangover, follow it)
                "client_ms": agent - end if agent is not None and end is not None else None,
                "heard_ms": heard - end if heard is not None and end is not None else None,
                # the first frame's arrival after the data-channel event sent with it: the outbound audio path
                "frame_after_event_ms": agent - server["received_ms"] if agent is not None and server else None,
                "server_ms": server["voice_to_voice_ms"] if server else None,
                "stages": server.get("stages") if server else None,
            }
        )
    return {"turns": turns, "client_audio": audio_stats}


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
        utter_t: list[tuple[int, float]] = []  # (turn, when its utterance.end with text arrived)
        texts: dict[int, str] = {}
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
                    utter_t.append((ev.get("turn") or len(utter_t) + 1, now))
                    texts[utter_t[-1][0]] = ev["text"]
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
    for k, ut in utter_t[:n_turns]:
        server = servers.get(k)
        end = nearest_end(sent_end, ut, server, scale=1e-3)
        agent = first_audio.get(k)
        turns.append(
            {
                "text": texts.get(k),
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
        **heard_summary(res),
        "raw": res["turns"],
    }


def heard_summary(res: dict) -> dict:
    """Browser only: when the agent's voice was heard (after the jitter buffer and the decoder)."""
    heard = [t["heard_ms"] for t in res["turns"] if t.get("heard_ms") is not None]
    if not heard:
        return {}
    return {"heard_p50_ms": pct(heard, 50), "heard_p95_ms": pct(heard, 95), "client_audio": res.get("client_audio")}


async def sample_load(into: list[float], period_s: float = 5.0) -> None:
    """The 1-minute load average every `period_s` while the benchmark runs (the machine is shared)."""
    while True:
        into.append(os.getloadavg()[0])
        await asyncio.sleep(period_s)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 turns per path instead of 20")
    ap.add_argument("--paths", default="browser,ws", help="which paths to run (default: browser,ws)")
    ap.add_argument("--out", default="benchmarks/results/voice_to_voice.json")
    ap.add_argument(
        "--no-camera", action="store_true", help="the page opens only the microphone (its camera costs CPU)"
    )
    args = ap.parse_args()
    n = 3 if args.quick else 20
    paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    if not set(paths) <= {"browser", "ws"}:
        ap.error(f"--paths must name browser and/or ws, got {args.paths!r}")
    loads: list[float] = []
    wav, ends, file_s = prompts_wav(Path(tempfile.gettempdir()) / "liveloop_v2v_prompts.wav", PROMPTS, gap_s=GAP_S)
    serve = ServeProcess("--no-vision", timeout_s=180)
    results: dict[str, dict] = {}
    try:
        if "✗" in "".join(serve.lines) or "unavailable" in "".join(serve.lines):
            print("".join(serve.lines))
        async with asyncio.TaskGroup() as tg:
            sampler = tg.create_task(sample_load(loads))
            if "browser" in paths:
                timeout_s = n * file_s / len(PROMPTS) + 90
                res = await browser_turns(serve.url, wav, n, timeout_s=timeout_s, with_camera=not args.no_camera)
                results["browser"] = summarise(res)
            if "ws" in paths:
                results["ws"] = summarise(await ws_turns(serve.url, wav, ends, n))
            sampler.cancel()
    finally:
        serve.close()
    diffs = [r["dashboard_vs_client_ms"] for r in results.values() if r["dashboard_vs_client_ms"] is not None]
    doc = {
        "benchmark": "voice_to_voice",
        "quick": args.quick,
        "browser_camera": not args.no_camera,
        "prompts": PROMPTS,
        **results,
        "dashboard_vs_client_ms": max(diffs) if diffs else None,  # the worse of the two paths
        "target": {"p50_ms": 300, "dashboard_vs_client_ms": 10},
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_1m": {"min": min(loads), "mean": sum(loads) / len(loads), "max": max(loads), "samples": loads},
        },
        "serve_log": serve.lines[-10:],
    }
    print(
        f"\n{'path':8s} {'turns':>5s} {'answered':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'server p50':>10s} "
        f"{'|dash-client| ms':>16s}"
    )
    for name, r in results.items():
        f = lambda v: "–" if v is None else f"{v:.0f}"  # noqa: E731
        print(
            f"{name:8s} {r['turns']:5d} {r['answered']:8d} {f(r['p50_ms']):>8s} {f(r['p95_ms']):>8s} "
            f"{f(r['server_p50_ms']):>10s} {f(r['dashboard_vs_client_ms']):>16s}"
        )
        print(
            "         stages p50: " + ", ".join(f"{k} {v:.0f}" for k, v in r["stages_p50_ms"].items() if v is not None)
        )
        if "heard_p50_ms" in r:
            jb = (r.get("client_audio") or {}).get("jitterBufferMs")
            print(
                f"         heard (after the jitter buffer) p50 {f(r['heard_p50_ms'])}, p95 {f(r['heard_p95_ms'])} ms; "
                f"jitter buffer mean {f(jb)} ms"
            )
    m = doc["machine"]["load_1m"]
    print(f"load average (1 min) during the run: min {m['min']:.1f}, mean {m['mean']:.1f}, max {m['max']:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
