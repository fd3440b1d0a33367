"""More voice clients than the machine can serve: admission by session count alone vs by listening lag.

    .venv/bin/python benchmarks/admission.py [--quick] [--clients 24] [--stagger-s 3] [--talk-s 60] [--gap-s 1]

Each arm runs its own `liveloop serve --no-vision` (ASR, VAD, TTS and the responder as shipped) and the
same arrivals: client k opens /ws at k × stagger seconds and, when admitted, streams spoken prompts (the
bundled Piper voice, with pauses for the agent's answers) in real time for `talk_s` seconds, then leaves.

* count: `--max-lag-ms 0`, what the server did before: any session up to `--max-sessions` (16).
* lag: the default admission: also refuse while a live session listens more than 750 ms behind real time
  (and for 10 s after), and past the capacity that learned (`liveloop.web.admission`).
* lag-nocap: the lag limit without the learned capacity; lag@MS: the default with another limit.

Per arm: clients admitted and refused, voice-to-voice p50 / p95 over every answered turn of the admitted
clients (the server's `audio.start.voice_to_voice_ms`: end of user speech → first agent audio leaves),
the share of heard utterances answered at all and within the 300 ms budget (an answer that is not ready
before the user speaks again is dropped unsent, as in a real conversation), each session's worst listening
lag (`budgets.session.hearing_lag_ms`, sent every second), the audio its mic door dropped, and the server's
CPU. Refused clients are a cost too (a deployment sends them elsewhere, or they retry after Retry-After);
the table shows both sides. `--rescore FILE` recomputes the table and the plot from a results file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from asr_streaming import _save, columns_table, pyplot, write_results  # noqa: E402

from tests.e2e.conftest import ServeProcess  # noqa: E402
from tests.e2e.media import prompts_wav  # noqa: E402

PROMPTS = [
    "Hello there, can you hear me clearly from where you are standing",
    "What do you see on the table in front of the robot right now",
    "Go left slowly and stop when you reach the red block on the shelf",
    "Turn around and come back to the place where you started from",
]
GAP_S = 1.0  # silence after each prompt (--gap-s): near dictation, so 16 sessions (the default cap) overload 2 cores
FRAME = 640  # 20 ms of 16 kHz int16


def pct(xs: list[float], q: float) -> float | None:
    return float(np.percentile(xs, q)) if xs else None


async def client(k: int, url: str, pcm: bytes, ends_s: list[float], start_s: float, talk_s: float, t0: float) -> dict:
    import websockets
    from websockets.exceptions import InvalidStatus

    await asyncio.sleep(max(0.0, t0 + start_s - time.monotonic()))
    row: dict = {"client": k, "start_s": start_s}
    try:
        ws = await websockets.connect(url, max_size=None)
    except InvalidStatus as exc:
        body = json.loads(exc.response.body or b"{}")
        return {**row, "admitted": False, "status": exc.response.status_code, "reason": body.get("reason")}
    file_s = len(pcm) / 32000
    v2v: list[float] = []
    lags: list[float] = []
    last_session: dict = {}
    heard = 0

    async def speak() -> None:
        t_start = time.monotonic()
        for j in range(round(talk_s / 0.02)):
            await asyncio.sleep(max(0.0, t_start + (j + 1) * 0.02 - time.monotonic()))
            i = (j * FRAME) % len(pcm)
            await ws.send(pcm[i : i + FRAME])
        await asyncio.sleep(5.0)  # let the last answer come

    async def listen() -> None:
        nonlocal last_session, heard
        async for msg in ws:
            if isinstance(msg, bytes):
                continue
            ev = json.loads(msg)
            if ev["type"] == "audio.start" and ev.get("spoken") and ev.get("voice_to_voice_ms") is not None:
                v2v.append(float(ev["voice_to_voice_ms"]))
            elif ev["type"] == "utterance.end" and ev.get("text", "").strip():
                heard += 1
            elif ev["type"] == "budgets" and ev.get("session"):
                last_session = ev["session"]
                lags.append(float(ev["session"].get("hearing_lag_ms", 0.0)))

    async with asyncio.TaskGroup() as tg:
        listener = tg.create_task(listen())
        await speak()
        listener.cancel()
    with contextlib.suppress(Exception):
        await ws.close()
    loops, rest = divmod(talk_s, file_s)
    spoken = int(loops) * len(ends_s) + sum(int(e <= rest) for e in ends_s)
    return {
        **row,
        "admitted": True,
        "file_s": file_s,
        "prompts_spoken": spoken,
        "utterances_heard": heard,
        "turns_answered": len(v2v),
        "v2v_ms": v2v,
        "lag_ms_max": max(lags, default=0.0),
        "lag_ms_p50": pct(lags, 50),
        "audio_dropped_frames": int(last_session.get("audio_dropped", 0)),
    }


async def run_arm(name: str, extra: list[str], args: argparse.Namespace, pcm: bytes, ends: list[float]) -> dict:
    serve = ServeProcess("--no-vision", *extra, timeout_s=300)
    url = serve.url.replace("http://", "ws://").split("#")[0] + "ws"
    busy = [0.0, 0.0]
    try:
        t0 = time.monotonic() + 1.0
        tasks = [client(k, url, pcm, ends, k * args.stagger_s, args.talk_s, t0) for k in range(args.clients)]
        rows = await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        with contextlib.suppress(OSError):
            ticks = os.sysconf("SC_CLK_TCK")
            stat = Path(f"/proc/{serve.proc.pid}/stat").read_text().split()
            busy = [int(stat[13]) / ticks, int(stat[14]) / ticks]
    finally:
        serve.close()
    cpu = {"server_cpu_s": sum(busy), "server_cpu_share": sum(busy) / wall / (os.cpu_count() or 1)}
    return summarise(name, " ".join(extra), rows, cpu)


def summarise(name: str, flags: str, rows: list[dict], cpu: dict) -> dict:
    """One arm's row from its clients' records (also what --rescore recomputes)."""
    admitted = [r for r in rows if r["admitted"]]
    v2v = [x for r in admitted for x in r["v2v_ms"]]
    heard = sum(r["utterances_heard"] for r in admitted)
    return {
        "method": name,
        "flags": flags,
        "clients": len(rows),
        "admitted": len(admitted),
        "refused": len(rows) - len(admitted),
        "refused_reasons": sorted({str(r.get("reason")) for r in rows if not r["admitted"]}),
        "v2v_ms_p50": pct(v2v, 50),
        "v2v_ms_p95": pct(v2v, 95),
        "turns": len(v2v),
        "prompts_spoken": sum(r["prompts_spoken"] for r in admitted),
        "utterances_heard": heard,
        # an answer is dropped unsent when the user speaks again before it is ready (barge-in)
        "answered_share": len(v2v) / heard if heard else None,
        "answered_in_300ms_share": sum(x <= 300 for x in v2v) / heard if heard else None,
        "worst_lag_s": max((r["lag_ms_max"] for r in admitted), default=0.0) / 1000,
        "sessions_over_1s": sum(int(r["lag_ms_max"] > 1000) for r in admitted),
        "audio_dropped_s": sum(r["audio_dropped_frames"] for r in admitted) * 0.02,
        **cpu,
        "per_client": rows,
    }


COLUMNS = [
    ("admission", 12, "{method}"),
    ("clients", 8, "{clients}"),
    ("admitted", 9, "{admitted}"),
    ("refused", 8, "{refused}"),
    ("v2v p50", 9, "{v2v_p50}"),
    ("v2v p95", 9, "{v2v_p95}"),
    ("answered", 9, "{answered}"),
    ("≤300ms", 7, "{in_budget}"),
    ("worst lag s", 12, "{worst_lag_s:.1f}"),
    ("lag>1s", 7, "{sessions_over_1s}"),
    ("dropped s", 10, "{audio_dropped_s:.1f}"),
    ("CPU", 6, "{cpu}"),
]


def fmt_row(r: dict) -> dict:
    f = lambda v: "–" if v is None else f"{v:.0f}"  # noqa: E731
    return {
        **r,
        "v2v_p50": f(r["v2v_ms_p50"]),
        "v2v_p95": f(r["v2v_ms_p95"]),
        "answered": "–" if r["answered_share"] is None else f"{100 * r['answered_share']:.0f}%",
        "in_budget": "–" if r["answered_in_300ms_share"] is None else f"{100 * r['answered_in_300ms_share']:.0f}%",
        "cpu": f"{100 * r['server_cpu_share']:.0f}%",
    }


def lag_limit_ms(r: dict) -> float | None:
    flags = r["flags"].split()
    if "--max-lag-ms" not in flags:
        return 750.0  # the default
    v = float(flags[flags.index("--max-lag-ms") + 1])
    return v or None


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        cl = r["per_client"]
        xs = [c["start_s"] for c in cl if c["admitted"]]
        (line,) = a.plot(xs, [c["lag_ms_max"] / 1000 for c in cl if c["admitted"]], marker="o", label=r["method"])
        refused = [c["start_s"] for c in cl if not c["admitted"]]
        a.plot(refused, [0] * len(refused), "x", ms=9, c=line.get_color(), label=f"{r['method']}: refused")
        if (limit := lag_limit_ms(r)) is not None:
            a.axhline(limit / 1000, ls="--", c=line.get_color(), lw=0.8)
        vs = sorted(x for c in cl if c["admitted"] for x in c["v2v_ms"])
        if vs and r["utterances_heard"]:
            share = np.arange(1, len(vs) + 1) / r["utterances_heard"]
            b.step(vs, share, where="post", c=line.get_color(), label=r["method"])
    a.set(xlabel="client arrives at (s)", ylabel="its worst listening lag (s); dashed: the limit", yscale="symlog")
    a.set_title("Sessions falling behind (× = refused)")
    b.axvline(300, ls=":", c="gray", lw=0.8, label="300 ms budget")
    b.set(xlabel="voice-to-voice (ms)", ylabel="share of heard utterances answered within", xscale="log")
    b.set_title("Answers")
    b.xaxis.set_major_formatter(ScalarFormatter())
    b.xaxis.set_minor_formatter(NullFormatter())
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    _save(fig, path)


def arm_flags(name: str) -> list[str]:
    """count → the session count alone; lag → the default admission; lag-nocap → without a learned cap;
    lag@MS → the default with that lag limit."""
    if name == "count":
        return ["--max-lag-ms", "0"]
    if name == "lag":
        return []
    if name == "lag-nocap":
        return ["--capacity-probe-s", "0"]
    if name.startswith("lag@") and name[4:].replace(".", "", 1).isdigit() and float(name[4:]) > 0:
        return ["--max-lag-ms", name[4:]]
    raise ValueError(f"unknown arm {name!r}: count, lag, lag-nocap or lag@MS")


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 clients, 3 s apart, 25 s of talk each")
    ap.add_argument("--clients", type=int, default=24)
    ap.add_argument("--stagger-s", type=float, default=3.0)
    ap.add_argument("--talk-s", type=float, default=60.0)
    ap.add_argument("--gap-s", type=float, default=GAP_S, help=f"silence after each prompt (default {GAP_S:g})")
    ap.add_argument(
        "--arms", default="count,lag-nocap,lag", help="count, lag, lag-nocap, lag@MS (default count,lag-nocap,lag)"
    )
    ap.add_argument("--out", default="benchmarks/results/admission.json")
    ap.add_argument("--rescore", metavar="FILE", help="recompute the rows, table and plot from FILE's clients")
    args = ap.parse_args()
    if args.rescore:
        blob = json.loads(Path(args.rescore).read_text())
        keep = ("server_cpu_s", "server_cpu_share")
        blob["results"] = [
            summarise(r["method"], r["flags"], r["per_client"], {k: r[k] for k in keep}) for r in blob["results"]
        ]
        Path(args.rescore).write_text(json.dumps(blob, indent=1))
        plot(blob["results"], Path(args.rescore).with_suffix(".png"))
        print(columns_table([fmt_row(r) for r in blob["results"]], COLUMNS))
        return 0
    if args.quick:
        args.clients, args.stagger_s, args.talk_s = 6, 3.0, 25.0
    wav, ends, _file_s = prompts_wav(Path(tempfile.gettempdir()) / "liveloop_admission.wav", PROMPTS, gap_s=args.gap_s)
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    rows = []
    for name in [a.strip() for a in args.arms.split(",") if a.strip()]:
        try:
            flags = arm_flags(name)
        except ValueError as exc:
            ap.error(str(exc))
        print(f"arm {name}: {args.clients} clients, one every {args.stagger_s:g} s, {args.talk_s:g} s each", flush=True)
        rows.append(await run_arm(name, flags, args, pcm, ends))
        print(columns_table([fmt_row(rows[-1])], COLUMNS), flush=True)
    print()
    print(columns_table([fmt_row(r) for r in rows], COLUMNS))
    write_results(
        args.out,
        rows,
        plot,
        machine={"load_before": os.getloadavg()},
        prompts=PROMPTS,
        clients=args.clients,
        stagger_s=args.stagger_s,
        talk_s=args.talk_s,
        gap_s=args.gap_s,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
