"""``liveloop say``: speak text with the streaming voice, optionally fed word by word like an LLM."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "say",
        help="speak text with the streaming voice (Piper, bundled voice)",
        description="Speak TEXT. With --stream-tokens the text is fed word by word at --tokens-per-s, like an LLM, "
        "and the interleaving schedule starts the audio from the first words.",
    )
    p.add_argument("text", metavar="TEXT", help="what to say ('-' reads standard input)")
    p.add_argument("--stream-tokens", action="store_true", help="feed the text word by word at --tokens-per-s")
    p.add_argument("--tokens-per-s", type=float, default=20.0, help="token rate with --stream-tokens (default 20)")
    p.add_argument("--schedule", choices=("balance", "boost", "turbo"), default="balance")
    p.add_argument("--rate", type=int, default=48_000, help="output sample rate in Hz (48000, 24000, 16000 …)")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    p.add_argument("--paced", action="store_true", help="pull audio in real time, 20 ms per 20 ms (like a sink)")
    p.add_argument("--out", metavar="FILE.wav", help="write the audio to a 16-bit mono WAV file")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.set_defaults(func=_cmd_say)


def _tokens(text: str, stream: bool) -> list[str]:
    if not stream:
        return [text]
    words = text.split()
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _cmd_say(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging
    import wave

    from liveloop.tts.audio import OUTPUT_RATES_HZ
    from liveloop.tts.driver import say
    from liveloop.tts.schedule import Schedule, SchedulerConfig
    from liveloop.tts.stream import StreamConfig
    from liveloop.tts.voice import PiperSynthesizer, VoiceConfig, VoiceError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    text = sys.stdin.read() if args.text == "-" else args.text
    if args.rate not in OUTPUT_RATES_HZ:
        print(f"liveloop say: --rate must be one of {OUTPUT_RATES_HZ}, got {args.rate}", file=sys.stderr)
        return 2
    if not 0 < args.tokens_per_s <= 1000:
        print(f"liveloop say: --tokens-per-s must be in (0, 1000], got {args.tokens_per_s}", file=sys.stderr)
        return 2
    if not text.strip():
        print("liveloop say: warning: empty text, nothing to say", file=sys.stderr)
    try:
        synth = PiperSynthesizer(VoiceConfig(intra_op_threads=args.threads))
    except (VoiceError, ValueError) as exc:
        print(f"liveloop say: {exc}", file=sys.stderr)
        return 1
    config = StreamConfig(
        scheduler=SchedulerConfig(schedule=Schedule(args.schedule), tokens_are_words=args.stream_tokens),
        output_rate_hz=args.rate,
    )
    res = asyncio.run(
        say(
            _tokens(text, args.stream_tokens),
            synth,
            config,
            tokens_per_s=args.tokens_per_s if args.stream_tokens else None,
            paced=args.paced,
        )
    )
    for w in res.warnings:
        print(f"liveloop say: warning: {w}", file=sys.stderr)
    pcm = res.pcm()
    if args.out:
        with wave.open(args.out, "wb") as wf:
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(args.rate)
            wf.writeframes(pcm.astype("<i2").tobytes())
    summary: dict[str, Any] = {
        "first_audio_ms": _r(res.first_audio_ms),
        "first_frame_out_ms": _r(res.ms_since_first_token(res.first_frame_out_ns)),
        "rtf": round(res.rtf, 4),
        "total_ms": _r(res.total_ms),
        "audio_ms": round(1000.0 * len(pcm) / args.rate, 1),
        "schedule": args.schedule,
        "stream_tokens": bool(args.stream_tokens),
        "tokens_per_s": args.tokens_per_s if args.stream_tokens else None,
        "spans": res.spans,
        "underruns": res.underruns,
        "sample_rate": args.rate,
        "decoder": "windowed" if synth.streaming else "whole",
        "warnings": res.warnings,
        "out": args.out,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        fa = summary["first_audio_ms"]
        print(
            f"said {summary['audio_ms'] / 1000:.2f} s in {len(res.spans)} spans ({args.schedule}); "
            f"first audio {fa} ms after the first token, RTF {summary['rtf']:.3f}"
            + (f"; wrote {args.out}" if args.out else "")
        )
    return 0


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
