"""Streaming speech in a graph: tokens at 20/s → tts.Speaker → captions and a WAV file.

    python examples/tts_streaming_graph.py "Sure, I can see the red cup. Shall I bring it?" --out /tmp/reply.wav

The Speaker's first frame carries the first token's origin, so the budget
"text → audio" (100 ms) measures first text token in → first audio frame out;
the run report at the end shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import wave

import numpy as np

from liveloop.graph import Collect, Graph, Inlet
from liveloop.tts import Speaker, StreamConfig
from liveloop.tts.schedule import Schedule, SchedulerConfig


async def main(text: str, out: str | None, schedule: str) -> None:
    g = Graph("tts-demo")
    g.add(Inlet("llm"))
    sched = SchedulerConfig(schedule=Schedule(schedule), tokens_are_words=True)
    g.add(Speaker("tts", stream=StreamConfig(scheduler=sched, output_rate_hz=24_000)))
    for port in ("audio", "marks", "spoken"):
        g.add(Collect(port))
        g.connect(f"tts.{port}", f"{port}.inp")
    g.connect("llm.out", "tts.text")
    g.budget("llm.out", "tts.audio", ms=100, name="first_audio")
    async with g.running():
        llm = g.nodes["llm"]
        assert isinstance(llm, Inlet)
        for i, word in enumerate(text.split()):
            await llm.put(word if i == 0 else " " + word)
            await asyncio.sleep(0.05)  # an LLM at 20 tokens/s
        await llm.close()
        spoken = g.nodes["spoken"]
        assert isinstance(spoken, Collect)
        while not spoken.events:
            await asyncio.sleep(0.05)
    marks = g.nodes["marks"]
    audio = g.nodes["audio"]
    assert isinstance(marks, Collect) and isinstance(audio, Collect)
    for m in marks.data:
        print(f"{m.time_ms(24_000):7.0f} ms  {m.text}")
    print("heard:", spoken.data[-1].spoken_text)
    if out:
        pcm = np.concatenate([f.samples for f in audio.data])
        with wave.open(out, "wb") as wf:
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(24_000)
            wf.writeframes(pcm.astype("<i2").tobytes())
        print(f"wrote {out} ({len(pcm) / 24_000:.2f} s)")
    for b in g.budgets:
        q = b.stats.latency.quantiles_ms()
        print(f"budget {b.name}: {b.stats.total} measured, p50 {q[0.5]:.0f} ms (target {b.ms:.0f} ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text", nargs="?", default="Sure, I can see the red cup on the table. Shall I bring it to you?")
    ap.add_argument("--out", default=None)
    ap.add_argument("--schedule", default="balance", choices=("balance", "boost", "turbo"))
    a = ap.parse_args()
    asyncio.run(main(a.text, a.out, a.schedule))
