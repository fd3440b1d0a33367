"""More ASR sessions than the CPU can serve at 300 ms chunks: the graph's budget knob vs chunk size pinned.

    .venv/bin/python benchmarks/asr_overload.py [--quick] [--sessions 6,10,14] [--budget-ms 600] [--out PATH]

Every session is its own chain on one graph runtime, as an application builds it:

    mic{i} (20 ms frames, real time) ──► asr.Vad ──audio──► asr.StreamingWhisper ──words──► sink{i}
                                                  └─events──►┘

with a path budget mic{i}.audio → asr{i}.words. The streams are `asr_sessions.py`'s: the dev set's
referenced clips with 1 s gaps, each session starting at another clip. One model with the shipped adapter
is shared; each recognizer step runs in a worker thread (`offload`), torch on one thread per call.

Two runs per number of sessions:
* knob: the node's modes as shipped. The runtime picks a mode per audio frame from the budget left; the
  recognizer takes the pick at the start of each utterance, so a session that is behind real time (its
  frames arrive past their budget) decodes its next utterance in 1 s chunks, which cost less per second.
* pinned: the same node with no modes: 300 ms chunks whatever the load.

Per run: word latency p50 / p95 (emit − the word's end in the audio, as the node aligns it; all sessions),
the share of words within the budget, the worst session's lag at the end (its last word out − the end of its
audio), the share of utterances decoded at 1 s, WER of each session's committed text against its references
(whisper's normaliser; all sessions), and the CPU's busy share. Tests assert behaviour; this is where the
claim "an overloaded recognizer sheds compute instead of falling behind" is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr_sessions import FRAME_MS, Stream, load_streams
from asr_streaming import _save, columns_table, pyplot, write_results

from liveloop.asr.evaluate import corpus_wer, score_clip
from liveloop.asr.features import SAMPLE_RATE
from liveloop.asr.nodes import StreamingWhisper, Vad
from liveloop.graph import Graph, Input, Node, NodeContext, Output, VirtualClock
from liveloop.graph.channel import Block

NS = 1_000_000_000


class Mic(Node):
    """One session's microphone: the stream's audio as 20 ms frames at real-time pace on the graph's clock."""

    audio = Output(np.ndarray, doc="16 kHz float32; origin_ns = when the frame's first sample was 'captured'")

    def __init__(self, name: str, stream: np.ndarray, delay_s: float) -> None:
        super().__init__(name)
        self.stream = stream
        self.delay_s = delay_s  # sessions do not start in step
        self.t0_ns = 0

    async def run(self, ctx: NodeContext) -> None:
        frame = FRAME_MS * SAMPLE_RATE // 1000
        self.t0_ns = ctx.now_ns() + int(self.delay_s * NS)
        for i in range(0, self.stream.size, frame):
            due = self.t0_ns + i * NS // SAMPLE_RATE
            await ctx.clock.sleep_until(due + frame * NS // SAMPLE_RATE)  # the frame is complete at its end
            await ctx.emit("audio", self.stream[i : i + frame], origin_ns=due)


@dataclass
class Heard:
    words: list[tuple[str, int, int]] = field(default_factory=list)  # (word, emit ns, word-end origin ns)
    utterances: list[str] = field(default_factory=list)  # each end of utterance's text


class Sink(Node):
    """Records each committed word with its emit time, and each utterance's text."""

    words = Input(object, Block(256))
    utterance = Input(object, Block(64))

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.heard = Heard()

    async def process(self, event, ctx: NodeContext) -> None:
        if event.port == "words":
            self.heard.words.append((event.data.word, ctx.now_ns(), event.data.end_origin_ns))
        else:
            self.heard.utterances.append(event.data.text)


class PinnedWhisper(StreamingWhisper):
    """StreamingWhisper without the knob: the chunk size of its config, whatever the load."""

    modes = ()


def build(n: int, streams: list[Stream], model, knob: bool, budget_ms: float, chunk_ms: int, rng, clock=None) -> Graph:
    """N sessions on one graph; with a `clock` (a VirtualClock) no real time passes: the unloaded reference."""
    from liveloop.asr.recognizer import StreamConfig

    g = Graph(f"overload-{n}-{'knob' if knob else 'pinned'}", clock=clock)
    offload = clock is None
    cls = StreamingWhisper if knob else PinnedWhisper
    for i in range(n):
        g.add(Mic(f"mic{i}", streams[i].audio, rng.uniform(0.0, chunk_ms / 1000)))
        g.add(Vad(f"vad{i}"))
        g.add(cls(f"asr{i}", model=model, adapter="none", config=StreamConfig(chunk_ms=chunk_ms), offload=offload))
        g.add(Sink(f"sink{i}"))
        g.connect(f"mic{i}.audio", f"vad{i}.audio")
        g.connect(f"vad{i}.out", f"asr{i}.audio")
        g.connect(f"vad{i}.events", f"asr{i}.vad")
        g.connect(f"asr{i}.words", f"sink{i}.words")
        g.connect(f"asr{i}.utterance", f"sink{i}.utterance")
        g.budget(f"mic{i}.audio", f"asr{i}.words", ms=budget_ms, name=f"mic_to_words{i}")
    return g


def texts(g: Graph, n: int) -> list[str]:
    return [" ".join(w.strip() for w, _, _ in g.nodes[f"sink{i}"].heard.words) for i in range(n)]  # type: ignore[attr-defined]


def unloaded(n: int, streams: list[Stream], model, chunk_ms: int, rng) -> list[str]:
    """Each session's words with no load and no clock: 300 ms chunks throughout, on a virtual clock."""
    g = build(n, streams, model, False, 1e9, chunk_ms, rng, clock=VirtualClock())
    asyncio.run(g.run())
    return texts(g, n)


def run(
    n: int, streams: list[Stream], model, knob: bool, budget_ms: float, chunk_ms: int, rng, expected: list[str]
) -> dict:
    g = build(n, streams, model, knob, budget_ms, chunk_ms, rng)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(g.run())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    lat_ms, refs, lags, slow, total = [], [], [], 0, 0
    for i in range(n):
        heard: Heard = g.nodes[f"sink{i}"].heard  # type: ignore[attr-defined]
        mic: Mic = g.nodes[f"mic{i}"]  # type: ignore[assignment]
        lat_ms += [(t - end) / 1e6 for _, t, end in heard.words]
        end_ns = mic.t0_ns + streams[i].audio.size * NS // SAMPLE_RATE
        lags.append((heard.words[-1][1] - end_ns) / NS if heard.words else float("nan"))
        refs.append(" ".join(streams[i].refs))
        counts = g.runtimes[f"asr{i}"].stats.mode_counts
        slow += counts.get("chunk1000", 0)
        total += sum(counts.values())
    lat = np.array(lat_ms) if lat_ms else np.array([np.nan])
    return {
        "method": f"{'budget knob' if knob else 'pinned'} ({chunk_ms} ms{' / 1 s' if knob else ''})",
        "sessions": n,
        "budget_ms": budget_ms,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "within_budget": float(np.mean(lat <= budget_ms)),
        "worst_lag_s": float(np.nanmax(lags)),
        "frames_at_1s": slow / total if total else 0.0,
        "wer": corpus_wer([score_clip(r, h) for r, h in zip(refs, texts(g, n), strict=True)]),
        "wer_unloaded": corpus_wer([score_clip(r, h) for r, h in zip(refs, expected, strict=True)]),
        "same_words_as_unloaded": sum(a == b for a, b in zip(texts(g, n), expected, strict=True)),
        "words": len(lat_ms),
        "cpu_busy": cpu / wall / (os.cpu_count() or 1),
        "wall_s": wall,
    }


def table(rows: list[dict]) -> str:
    shown = [
        {
            **r,
            "within_pct": 100 * r["within_budget"],
            "slow_pct": 100 * r["frames_at_1s"],
            "wer_pct": 100 * r["wer"],
            "unl_pct": 100 * r["wer_unloaded"],
            "cpu_pct": 100 * r["cpu_busy"],
        }
        for r in rows
    ]
    return columns_table(
        shown,
        [
            ("method", 28, "{method}"),
            ("N", 4, "{sessions}"),
            ("lat p50", 9, "{latency_ms_p50:.0f}"),
            ("lat p95", 9, "{latency_ms_p95:.0f}"),
            ("in budget", 10, "{within_pct:.0f}%"),
            ("worst lag", 10, "{worst_lag_s:.1f}s"),
            ("1 s", 6, "{slow_pct:.0f}%"),
            ("WER", 7, "{wer_pct:.1f}%"),
            ("unl.", 7, "{unl_pct:.1f}%"),
            ("same", 7, "{same_words_as_unloaded}/{sessions}"),
            ("CPU", 6, "{cpu_pct:.0f}%"),
        ],
    )


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["sessions"], r["latency_ms_p95"], r["worst_lag_s"]) for r in rows if r["method"] == method)
        n, p95, lag = zip(*pts, strict=True)
        a.plot(n, p95, marker="o", label=method)
        b.plot(n, lag, marker="o", label=method)
    if rows:
        a.axhline(rows[0]["budget_ms"], ls="--", c="gray", lw=0.8, label="budget")
    a.set(xlabel="sessions at once", ylabel="word latency p95 (ms)", yscale="log", title="Latency under load")
    b.set(xlabel="sessions at once", ylabel="worst session's lag at the end (s)", title="Falling behind")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    _save(fig, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 clips per stream (≈ 22 s); 2 and 10 sessions")
    ap.add_argument("--sessions", default="", help="session counts (default 6,10,14)")
    ap.add_argument("--budget-ms", type=float, default=600.0, help="mic → words budget (default 600)")
    ap.add_argument("--chunk-ms", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="the sessions' start delays")
    ap.add_argument("--out", default="benchmarks/results/asr_overload.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import random

    from liveloop.asr.lora import load_adapter_for

    counts = [int(x) for x in args.sessions.split(",")] if args.sessions else ([2, 10] if args.quick else [6, 10, 14])
    model, clips, streams = load_streams(args.quick, max(counts))
    tuned = load_adapter_for(model, "auto")
    load0 = os.getloadavg()
    print(f"{len(clips)} clips, {streams[0].audio.size / SAMPLE_RATE:.1f} s per session; load {load0}", flush=True)
    rows = []
    for n in counts:
        expected = unloaded(n, streams, tuned, args.chunk_ms, random.Random(args.seed))
        for knob in (True, False):
            rng = random.Random(args.seed)  # the same start delays in every run
            rows.append(run(n, streams, tuned, knob, args.budget_ms, args.chunk_ms, rng, expected))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print(
        "N: sessions at once; latency: emit − the word's end in the audio (as the node aligns it), all sessions; "
        "in budget: share of words within --budget-ms; worst lag: the worst session's last word out − the end of "
        "its audio; 1 s: share of audio frames the runtime assigned to 1 s chunks; unl.: WER of the same sessions with "
        "no load (virtual clock, 300 ms chunks); same: sessions whose words equal that run's; CPU: process CPU / "
        "wall / cores"
    )
    write_results(args.out, rows, plot, machine={"load_before": load0}, clips=[c.name for c in clips])
    return 0


if __name__ == "__main__":
    sys.exit(main())
