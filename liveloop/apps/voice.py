"""The voice agent session behind `liveloop serve`: one per connected client, one graph per session.

    transport (WebRTC or /ws)
      ├─ on_audio(PcmFrame 16 kHz)     ─► the graph's `mic` door
      ├─ on_video(frame, capture_ns)   ─► the `video` door (latest wins)
      ├─ on_message({"type": "text"})  ─► the `typed` door (typed turns, tracks, a hand-made interrupt)
      ├─ on_turn_audio(turn, sent_ns)  ─► the egress (a turn's first sample left the server)
      └◄─ send_event, push_speech, mark, flush_speech ◄─ the graph's egress

The graph (`liveloop.apps.graph.voice_graph`) is the whole agent: VAD,
turn-taking, streaming ASR, the responder, the voice, the speculation gate and
the egress, every edge bounded with a named policy, the DESIGN.md budgets
measured by the runtime. The session only opens the doors, runs the graph and
sends the dashboard (`budgets`, from the graph's budgets) every second. Every
task lives in the TaskGroup of `run()`.

The speech stack comes from a process-wide `AgentStack`; any part may be
absent, and the session then says so in its hello event (``capabilities``)
and keeps working with what there is: typed text always reaches the responder.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from liveloop.apps.egress import TURN_AUDIO, Transport
from liveloop.apps.graph import voice_graph
from liveloop.apps.messages import ClientTracks, TypedText
from liveloop.apps.stack import AgentStack
from liveloop.apps.stats import BudgetBoard, budgets_json
from liveloop.graph import EventKind, RunReport
from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.rtc.audio import PcmFrame

log = logging.getLogger(__name__)
WS_API_VERSION = 1
_session_ids = itertools.count(1)
HEARING = ("mic", "vad", "turns", "asr")  # the nodes the user's audio goes through until it is text

__all__ = ["TURN_AUDIO", "WS_API_VERSION", "AgentStack", "Transport", "VoiceSession", "error_event"]


class VoiceSession:
    """The agent for one client. Feed it with the `on_*` methods; `run()` until the client leaves."""

    def __init__(
        self, transport: Transport, stack: AgentStack, board: BudgetBoard, *, clock: Clock | None = None
    ) -> None:
        self.id = next(_session_ids)
        self.transport = transport
        self.stack = stack
        self.board = board
        self.clock = clock or MonotonicClock()
        self.graph, self.doors = voice_graph(transport, stack, clock=self.clock, name=f"session{self.id}")
        self.report: RunReport | None = None
        self.audio_frames = 0
        self._stop = asyncio.Event()

    # -- input from the transport (sync, never blocks) ----------------------
    def on_audio(self, frame: PcmFrame) -> None:
        self.audio_frames += 1
        if self.doors.mic is not None:
            self.doors.mic.offer(frame, origin_ns=frame.capture_ns)

    def on_video(self, frame: Any, capture_ns: int) -> None:
        if self.doors.video is not None:
            self.doors.video.offer(frame, origin_ns=capture_ns)

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                self.transport.send_event(error_event("bad_text", "'text' must be a non-empty string"))
                return
            self.doors.typed.offer(TypedText(text))
        elif kind == "interrupt":
            self.doors.typed.control(EventKind.INTERRUPT)
        elif kind == "ping":
            self.transport.send_event({"type": "pong", "t": message.get("t")})
        elif kind == "tracks":  # client-side or external tracks
            tracks = message.get("tracks") or []
            if not isinstance(tracks, list):
                self.transport.send_event(error_event("bad_tracks", "'tracks' must be a list"))
                return
            self.doors.typed.offer(ClientTracks(tracks))
        else:
            self.transport.send_event(error_event("unknown_type", f"unknown message type {kind!r}"))

    def on_turn_audio(self, turn: int, sent_ns: int) -> None:
        """The transport reports the first sample of `turn`'s reply leaving the server."""
        self.doors.egress.sent(turn, sent_ns)

    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "version": WS_API_VERSION,
            "session": self.id,
            "capabilities": self.stack.capabilities(),
            "notes": dict(self.stack.notes),
            "budgets": budgets_json(self.graph)["budgets"],
        }

    def hearing_lag_ns(self) -> int:
        """How far behind real time this session listens: the age of the oldest audio not yet heard.

        Near one ASR chunk (plus the pre-roll sent at a speech start) while the
        machine keeps up; it grows without bound when it does not (`liveloop.web.admission`).
        """
        return self.graph.lag_ns(HEARING)

    def stop(self) -> None:
        self._stop.set()

    # -- life -----------------------------------------------------------------
    async def run(self) -> None:
        self.transport.send_event(self.hello())
        self.board.attach(self.graph)
        try:
            async with asyncio.TaskGroup() as tg:
                graph = tg.create_task(self.graph.run(), name=f"session{self.id}.graph")
                stats = tg.create_task(self._stats_loop(), name=f"session{self.id}.stats")
                stop = tg.create_task(self._stop.wait(), name=f"session{self.id}.stop")
                await asyncio.wait({graph, stop}, return_when=asyncio.FIRST_COMPLETED)
                stats.cancel()
                stop.cancel()
                while not graph.done():  # the graph may still be starting: ask until it has stopped
                    self.graph.stop()
                    await asyncio.wait({graph}, timeout=0.05)
                self.report = graph.result()
        finally:
            self.board.retire(self.graph)
        log.info("session %s ended\n%s", self.id, self.report.table() if self.report else "")

    async def run_until_stopped(self) -> None:
        await self.run()

    async def _stats_loop(self) -> None:
        mic = self.doors.mic
        while True:
            await self.clock.sleep(1.0)
            self.transport.send_event(
                {
                    **budgets_json(self.graph),
                    "session": {
                        "audio_frames": self.audio_frames,
                        "audio_dropped": mic.buffer.stats.drops if mic else 0,
                        "audio_backlog": mic.depth if mic else 0,
                        "hearing_lag_ms": self.hearing_lag_ns() / 1e6,
                        "gap_filled_ms": mic.gaps.filled_ms if mic else 0.0,
                        "turns": self.doors.agent.book.turns,
                    },
                }
            )


def error_event(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
