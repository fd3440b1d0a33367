"""Talk to `liveloop serve` over its WebSocket API (liveloop/web/WS_API.md).

    python examples/web_ws_client.py --say "what do you see?"
    python examples/web_ws_client.py --wav question.wav --out answer.wav [--url ws://127.0.0.1:8080/ws] [--token T]

Streams a 16 kHz mono WAV in real time (or sends typed text), prints the events,
and writes the agent's spoken answer to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import wave

import websockets


async def main(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    async with websockets.connect(args.url, additional_headers=headers) as ws:
        audio = bytearray()
        replies = 0

        async def speak() -> None:
            if args.say:
                await ws.send(json.dumps({"type": "text", "text": args.say}))
                return
            with wave.open(args.wav) as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16_000, 1, 2):
                    raise SystemExit(f"{args.wav} must be 16 kHz mono 16-bit")
                while chunk := w.readframes(320):  # 20 ms per frame, in real time
                    await ws.send(chunk)
                    await asyncio.sleep(0.02)
            for _ in range(100):  # then silence, so the end of the turn is heard
                await ws.send(bytes(640))
                await asyncio.sleep(0.02)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(speak())
            try:
                async with asyncio.timeout(args.timeout):
                    async for msg in ws:
                        if isinstance(msg, bytes):
                            audio += msg
                            continue
                        ev = json.loads(msg)
                        if ev["type"] in ("transcript", "utterance.end", "agent.reply", "audio.start", "error"):
                            print(json.dumps(ev))
                        if ev["type"] == "agent.reply":
                            replies += 1
                        if ev["type"] == "budgets" and replies:
                            break
            except TimeoutError:
                print(f"no reply within {args.timeout} s")
        if args.out and audio:
            with wave.open(args.out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16_000)
                w.writeframes(bytes(audio))
            print(f"wrote {args.out} ({len(audio) / 32000:.1f} s of speech)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    ap.add_argument("--token", default=None)
    ap.add_argument("--wav", help="16 kHz mono 16-bit WAV to stream as the microphone")
    ap.add_argument("--say", help="send typed text instead of audio")
    ap.add_argument("--out", default="answer.wav", help="where to write the agent's speech")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    if not (a.wav or a.say):
        ap.error("give --wav or --say")
    asyncio.run(main(a))
