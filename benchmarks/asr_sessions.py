"""Several streaming ASR sessions at once on this CPU: how emission latency grows as sessions are added.

    .venv/bin/python benchmarks/asr_sessions.py [--quick] [--sessions 1,2,4,8] [--commit 2] [--out PATH]

Each session is one user's microphone. It hears the dev set's clips that have a reference text
(`liveloop.asr.data.dev_set`: people's speech and held-out Piper sentences), 1 s of silence between
them. Each session starts at a different clip and at a random phase within a chunk, and is fed 20 ms frames
at real-time pace to Silero VAD and the recognizer; the VAD's end of utterance closes the segment, as
`asr.Vad` → `asr.StreamingWhisper` do. The sessions share one model with the shipped adapter in one
process, one thread each, torch single-threaded per call. That is how `asr.StreamingWhisper` runs several
sessions: `asyncio.to_thread` per step, one model per process.

Side by side, the baseline: LocalAgreement-2 sessions (`simulate.LocalAgreement`, whisper_streaming's
policy). Each re-transcribes its buffer once a second, or as soon as its last step is done when it falls
behind (then all the audio that arrived is in the step). Same streams, same real-time clock, one process per
session (forked: whisper's word timing flips a class-wide attention switch, so its sessions cannot share a
process).

Per number of sessions N:
- emission latency p50 / p95: emit − word end, word ends from the offline model's word timestamps, matched
  words of all sessions;
- the worst session's p95;
- lag at the end: the last word out − the last sample in, worst session;
- WER of the committed text (whisper's English normaliser; each session hears the clips in another order,
  so WER moves with N as the mix of streams does);
- same: sessions whose words are exactly those of the same stream fed with no pacing (the decode must not
  depend on timing or on the other sessions);
- compute per audio second, and the CPU's busy share (process CPU time / wall time / cores).

Tests assert behaviour, not speed; this script is where the number of sessions per machine is measured.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr_streaming import _save, columns_table, pyplot, wer, write_results

from liveloop.asr.data import Clip, dev_set
from liveloop.asr.evaluate import match_latencies
from liveloop.asr.features import SAMPLE_RATE

GAP_S = 1.0  # between utterances: longer than the VAD's hangover (0.48 s), as between turns
FRAME_MS = 20


@dataclass
class Stream:
    """One session's audio: the clips from `first` on, then the ones before it, with gaps."""

    audio: np.ndarray
    refs: list[str]
    offline_words: list[tuple[str, float, float]]  # the offline model's words, in stream time


@dataclass
class SessionResult:
    emitted: list[tuple[str, float]] = field(default_factory=list)  # (word, emit time since the session began)
    latencies_ms: list[float] = field(default_factory=list)
    duration_s: float = 0.0
    compute_s: float = 0.0

    @property
    def text(self) -> str:
        return "".join(w for w, _ in self.emitted).strip()

    @property
    def lag_s(self) -> float:
        return (self.emitted[-1][1] - self.duration_s) if self.emitted else float("nan")


def make_stream(clips: list[Clip], offline: dict[str, list[tuple[str, float, float]]], first: int) -> Stream:
    order = clips[first:] + clips[:first]
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    parts, words, at = [], [], 0.0
    for c in order:
        parts += [c.audio.astype(np.float32), gap]
        words += [(w, s + at, e + at) for w, s, e in offline[c.name]]
        at += c.audio.size / SAMPLE_RATE + GAP_S
    return Stream(np.concatenate(parts), [c.reference or "" for c in order], words)


def load_streams(quick: bool, most: int) -> tuple[Any, list[Clip], list[Stream]]:
    """tiny.en (base weights), the dev set's referenced clips (6 with `quick`), and `most` session streams,
    each starting at another clip; word ends from the offline model."""
    from liveloop.asr.simulate import transcribe_offline
    from liveloop.asr.timing import warm_up
    from liveloop.asr.weights import load_whisper

    model = load_whisper("tiny.en", progress=True)
    warm_up()
    clips = [c for c in dev_set() if c.reference]
    if quick:
        clips = clips[:6]
    offline = {c.name: transcribe_offline(model, c.audio)[1] for c in clips}  # restores torch's threads
    return model, clips, [make_stream(clips, offline, (i * len(clips)) // most) for i in range(most)]


def liveloop_session(model, stream: Stream, config, phase_s: float, realtime: bool = True) -> SessionResult:
    """One session as `asr.Vad` → `asr.StreamingWhisper` run it: 20 ms frames to the VAD and the recognizer;
    the VAD's end of utterance closes the recognizer's segment (its final decode commits the last words).
    `realtime=False`: no pacing, for the words alone."""
    from liveloop.asr.recognizer import StreamingRecognizer
    from liveloop.asr.vad import EndOfUtterance, VadCore

    rec, vad = StreamingRecognizer(model, config), VadCore()
    frame = FRAME_MS * SAMPLE_RATE // 1000
    res = SessionResult(duration_s=stream.audio.size / SAMPLE_RATE)
    if realtime:
        time.sleep(phase_s)  # sessions do not start in step
    t0 = time.perf_counter()
    for i in range(0, stream.audio.size + frame, frame):
        x = stream.audio[i : i + frame]
        if realtime:
            time.sleep(max(0.0, (i + x.size) / SAMPLE_RATE - (time.perf_counter() - t0)))
        c0 = time.perf_counter()
        if x.size:
            updates = rec.feed(x)
            updates += [u for ev in vad.feed(x) if isinstance(ev, EndOfUtterance) for u in rec.end_segment(True)]
        else:  # end of stream
            updates = rec.end_segment(vad.speaking)
        now = time.perf_counter()
        res.compute_s += now - c0
        res.emitted += [(w.word, now - t0) for u in updates for w in u.words]
    res.latencies_ms = match_latencies(res.emitted, stream.offline_words)
    return res


def local_agreement_session(model, stream: Stream, phase_s: float, step_s: float = 1.0) -> SessionResult:
    from liveloop.asr.simulate import LocalAgreement

    time.sleep(phase_s)
    la = LocalAgreement(model)
    dur = stream.audio.size / SAMPLE_RATE
    res = SessionResult(duration_s=dur)
    t0 = time.perf_counter()
    t = 0.0
    while t < dur:
        target = min(dur, t + step_s)
        wait = target - (time.perf_counter() - t0)
        if wait > 0:
            time.sleep(wait)
        t = min(dur, max(target, time.perf_counter() - t0))  # behind: everything that arrived goes in
        c0 = time.perf_counter()
        new = la.step(stream.audio, t, final=t >= dur)
        res.compute_s += time.perf_counter() - c0
        res.emitted += [(w, time.perf_counter() - t0) for w, _, _ in new]
    res.latencies_ms = match_latencies(res.emitted, stream.offline_words)
    return res


def _la_process(i: int, stream: Stream, phase_s: float, barrier, queue) -> None:
    """One LocalAgreement-2 session in its own (spawned) process: load, wait for the others, run, report."""
    torch.set_num_threads(1)
    try:
        from liveloop.asr.weights import load_whisper

        model = load_whisper("tiny.en", progress=False)
        barrier.wait()
        t0, c0 = time.monotonic(), time.process_time()
        res = local_agreement_session(model, stream, phase_s)
        queue.put((i, res, (t0, time.monotonic(), time.process_time() - c0)))
    except Exception as exc:  # reported by the parent with the session's number
        queue.put((i, RuntimeError(f"{type(exc).__name__}: {exc}"), None))


def run_sessions(
    n: int, target, streams: list[Stream], rng: random.Random, chunk_s: float, processes: bool = False
) -> tuple[list[SessionResult], float, float]:
    """N sessions at once: one thread each, `target(i, stream, phase_s)` running session i; or, with
    `processes`, one spawned process each running a LocalAgreement-2 session. Returns the results, the wall
    time from the first session's start to the last one's end, and the CPU time used in it."""
    phases = [rng.uniform(0.0, chunk_s) for _ in range(n)]
    results: list[SessionResult | BaseException] = [RuntimeError("not run")] * n
    if processes:
        ctx = multiprocessing.get_context("spawn")  # fork: torch's OpenMP runtime refuses it
        queue, barrier = ctx.Queue(), ctx.Barrier(n)
        procs = [
            ctx.Process(target=_la_process, args=(i, streams[i], phases[i], barrier, queue), name=f"session-{i}")
            for i in range(n)
        ]
        for p in procs:
            p.start()
        spans = []
        for _ in range(n):
            i, r, span = queue.get()
            results[i] = r
            spans.append(span)
        for p in procs:
            p.join()
        ok = [x for x in spans if x is not None]
        wall = max(b for _, b, _ in ok) - min(a for a, _, _ in ok) if ok else float("nan")
        cpu = sum(c for _, _, c in ok)
    else:

        def run(i: int) -> None:
            torch.set_num_threads(1)
            try:
                results[i] = target(i, streams[i], phases[i])
            except Exception as exc:  # reported below with the session's number
                results[i] = RuntimeError(f"{type(exc).__name__}: {exc}")

        wall0, cpu0 = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=run, args=(i,), name=f"session-{i}") for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"session {failed[0][0]} failed: {failed[0][1]!r}")
    return results, wall, cpu  # type: ignore[return-value]


def summarise(results: list[SessionResult], streams: list[Stream], wall: float, cpu: float) -> dict:
    n = len(results)
    lat = [x for r in results for x in r.latencies_ms]
    return {
        "sessions": n,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat else float("nan"),
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat else float("nan"),
        "worst_session_p95_ms": max(float(np.percentile(r.latencies_ms, 95)) for r in results if r.latencies_ms),
        "worst_lag_s": max(r.lag_s for r in results),
        "wer": wer([" ".join(s.refs) for s in streams[:n]], [r.text for r in results]),
        "compute_ms_per_audio_s": 1000 * sum(r.compute_s for r in results) / sum(r.duration_s for r in results),
        "cpu_busy": cpu / wall / (os.cpu_count() or 1),
        "audio_s_per_session": results[0].duration_s,
        "words": sum(len(r.emitted) for r in results),
        "matched_words": len(lat),
        "texts": [r.text for r in results],
    }


def _same(row: dict) -> str:
    same = row.get("same_words_as_virtual_clock")
    return "–" if same is None else f"{same}/{row['sessions']}"


def table(rows: list[dict]) -> str:
    shown = [{**r, "wer_pct": 100 * r["wer"], "cpu_pct": 100 * r["cpu_busy"], "same": _same(r)} for r in rows]
    return columns_table(
        shown,
        [
            ("method", 32, "{method}"),
            ("N", 3, "{sessions}"),
            ("WER", 7, "{wer_pct:.1f}%"),
            ("p50 ms", 9, "{latency_ms_p50:.0f}"),
            ("p95 ms", 9, "{latency_ms_p95:.0f}"),
            ("worst p95", 11, "{worst_session_p95_ms:.0f}"),
            ("lag s", 8, "{worst_lag_s:.2f}"),
            ("ms/s", 8, "{compute_ms_per_audio_s:.0f}"),
            ("CPU", 6, "{cpu_pct:.0f}%"),
            ("same", 6, "{same}"),
        ],
    )


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        n = [r["sessions"] for r in rs]
        line = ax.plot(n, [r["latency_ms_p50"] for r in rs], marker="o", label=f"{method}: p50")[0]
        ax.plot(n, [r["latency_ms_p95"] for r in rs], marker="s", ls="--", c=line.get_color(), label=f"{method}: p95")
    ax.axhline(300, ls="--", c="gray", lw=0.8)
    ax.axhline(600, ls=":", c="gray", lw=0.8)
    ax.set(
        xlabel="sessions at once (one process, this CPU)",
        ylabel="emission latency (ms, emit − word end)",
        yscale="log",
        title=f"Streaming ASR sessions on {os.cpu_count()} cores; targets p50 300 (dashed), p95 600 (dotted)",
    )
    ax.set_xticks(sorted({r["sessions"] for r in rows}))
    ax.legend(fontsize=7)
    _save(fig, path)


def _counts(spec: str, default: list[int]) -> list[int]:
    """ "" → the default; "none" → no runs; else comma-separated session counts."""
    if spec == "none":
        return []
    return [int(x) for x in spec.split(",") if x] or default


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 clips per stream (≈ 22 s); 1 and 2 sessions, 1 baseline")
    ap.add_argument("--sessions", default="", help="session counts, e.g. 1,2,4 (default 1,2,4,6,8; 'none')")
    ap.add_argument(
        "--baseline-sessions", default="", help="LocalAgreement-2 session counts (default 1,2, quick 1; 'none')"
    )
    ap.add_argument("--chunk-ms", type=int, default=300)
    ap.add_argument("--commit", default="", help="commit rule (CommitConfig.from_spec), e.g. eot+p50k1")
    ap.add_argument("--adapter", default="auto")
    ap.add_argument("--seed", type=int, default=0, help="the sessions' start phases")
    ap.add_argument("--out", default="benchmarks/results/asr_sessions.json")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from liveloop.asr.commit import CommitConfig
    from liveloop.asr.lora import load_adapter_for
    from liveloop.asr.recognizer import StreamConfig

    counts = _counts(args.sessions, [1, 2] if args.quick else [1, 2, 4, 6, 8])
    base_counts = _counts(args.baseline_sessions, [1] if args.quick else [1, 2])
    model, clips, streams = load_streams(args.quick, max([*counts, *base_counts]))
    load0 = os.getloadavg()
    print(f"{len(clips)} clips, {streams[0].audio.size / SAMPLE_RATE:.1f} s per session; load {load0}", flush=True)

    tuned = load_adapter_for(model, args.adapter)
    commit = CommitConfig.from_spec(args.commit) if args.commit else CommitConfig()
    cfg = StreamConfig(chunk_ms=args.chunk_ms, commit=commit)
    rng = random.Random(args.seed)
    label = f"liveloop causal {args.chunk_ms} ms" + (f" {args.commit}" if args.commit else "")
    # the words of each stream with no pacing: a live session must commit exactly these
    expected = [liveloop_session(tuned, s, cfg, 0.0, realtime=False).text for s in streams[: max(counts, default=0)]]
    rows = []
    for n in counts:
        done, wall, cpu = run_sessions(
            n, lambda i, s, p: liveloop_session(tuned, s, cfg, p), streams, rng, args.chunk_ms / 1000
        )
        same = sum(r.text == e for r, e in zip(done, expected, strict=False))
        rows.append({"method": label, **summarise(done, streams, wall, cpu), "same_words_as_virtual_clock": same})
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    for n in base_counts:  # processes: whisper's word timing flips a class-wide switch, not thread-safe
        done, wall, cpu = run_sessions(n, None, streams, rng, 1.0, processes=True)
        rows.append({"method": "LocalAgreement-2 (1 s)", **summarise(done, streams, wall, cpu)})
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print(
        "N: sessions at once; latency: emit − the offline model's word end (all sessions' matched words); worst p95: "
        "the worst session's; lag: last word out − last sample in (worst session); ms/s: compute per audio second "
        "(wall time inside the recognizer, so it grows when sessions wait for a core); CPU: process CPU / wall / cores"
    )
    write_results(args.out, rows, plot, machine={"load_before": load0}, clips=[c.name for c in clips])
    return 0


if __name__ == "__main__":
    sys.exit(main())
