"""Streaming speech recognition in a graph: a file played as a microphone → Silero VAD → causal Whisper.

    python examples/asr_stream_file.py [FILE] [--chunk-ms 300]

The file (default: a CMU ARCTIC sentence from the pysptk sdist) is paced at
real time in 20 ms frames stamped with their capture time; committed words
print as they come out with their age (now − the instant the word ended in
the audio); the budget `mic.audio → asr.words` is reported at the end.
"""

import argparse
import asyncio

import numpy as np

from liveloop.asr.audio import load_audio
from liveloop.asr.nodes import StreamingWhisper, Vad
from liveloop.asr.recognizer import StreamConfig
from liveloop.assets import asset_files
from liveloop.graph import Event, Graph, Input, Node, NodeContext, Output


class FileMic(Node):
    """A source: the file's samples in 20 ms frames at real-time pace, then 0.6 s of silence."""

    audio = Output(np.ndarray)

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__("mic")
        self.samples = np.concatenate([samples, np.zeros(9600, np.float32)])

    async def run(self, ctx: NodeContext) -> None:
        t = ctx.now_ns()
        for i in range(0, self.samples.size, 320):
            await ctx.emit("audio", self.samples[i : i + 320], origin_ns=t)
            t += 20_000_000
            await ctx.clock.sleep_until(t)


class Printer(Node):
    words = Input(object)
    utterance = Input(object)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        age_ms = (ctx.now_ns() - event.origin_ns) / 1e6
        if event.port == "words":
            print(f"{event.data.word:<16} ended {age_ms:6.0f} ms ago")
        else:
            print(f"— end of utterance: {event.data.text!r}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(asset_files("arctic_pysptk")[0]))
    ap.add_argument("--chunk-ms", type=int, default=300)
    args = ap.parse_args()
    g = Graph("asr-demo")
    g.add(FileMic(load_audio(args.file)))
    g.add(Vad(), "vad")
    g.add(StreamingWhisper(config=StreamConfig(chunk_ms=args.chunk_ms)), "asr")
    g.add(Printer(), "print")
    g.connect("mic.audio", "vad.audio")
    g.connect("vad.out", "asr.audio")
    g.connect("vad.events", "asr.vad")
    g.connect("asr.words", "print.words")
    g.connect("asr.utterance", "print.utterance")
    g.budget("mic.audio", "asr.words", ms=300, name="word_latency")
    report = await g.run()
    print(report.table())


if __name__ == "__main__":
    asyncio.run(main())
