"""The answering half of a session graph: the responder and the voice (thin node adapters).

    turns ──Utterance / Confirmed / Cancelled──► agent ──TurnItem, TurnReply──► voice ──TurnItem──► gate
    typed ──TypedText / ClientTracks─────────────┘ ▲                              └──first_audio (tts budget)
    vision ──tracks (latest)────────────────────────┘

`AgentNode` numbers turns and answers each with the command responder (or an
OpenAI-compatible LLM for free talk); its bookkeeping is `AgentBook`
(sans-I/O): which utterance is which turn, robot goals and LLM history held
until a speculative turn is confirmed, dropped when it is cancelled.

`SpeakerNode` speaks replies one at a time in a worker task of its own
TaskGroup, so its `process` never waits on speech and the control lane is
served at once: an INTERRUPT (barge-in) stops the reply being spoken and every
reply older than the interrupt. `Cancel` stops a speculative reply. Without a
voice, captions follow the tokens at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from liveloop.agent.responder import Goal, ResponderCore
from liveloop.apps.messages import (
    Cancel,
    ClientTracks,
    Confirm,
    FirstAudio,
    TurnAudio,
    TurnDone,
    TurnEvent,
    TurnMark,
    TurnOpen,
    TurnReply,
    TypedText,
)
from liveloop.apps.turns import Cancelled, Confirmed, Utterance
from liveloop.graph import Block, DropOldest, Event, Input, Latest, Node, NodeContext, Output

log = logging.getLogger(__name__)
LLM_INTENTS = frozenset({"ack", "greet"})  # what an LLM may answer; commands stay deterministic
HISTORY_TURNS = 4  # (user, assistant) pairs the LLM is given


@dataclass(slots=True)
class _Pending:
    turn: int
    goal: Goal | None
    user: str
    reply: str | None = None  # the LLM's whole reply, once it is in


@dataclass(slots=True)
class AgentBook:
    """Turns, and what waits for a speculative turn to be confirmed (sans-I/O).

    ``open(utt, speculative, ...) -> turn``; ``confirm(utt) -> (turn, goal)``;
    ``cancel(utt) -> turn``; ``replied(turn, text)`` when an LLM reply is complete.
    The LLM history gets a (user, assistant) pair once the turn is confirmed and
    its reply complete, in either order.
    """

    turns: int = 0
    history: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=2 * HISTORY_TURNS))
    _by_utt: dict[int, _Pending] = field(default_factory=dict)  # speculative turns
    _llm: dict[int, _Pending] = field(default_factory=dict)  # confirmed turns whose LLM reply is still coming

    def open(self, utt: int | None, *, speculative: bool, goal: Goal | None, user: str, llm: bool) -> int:
        self.turns += 1
        p = _Pending(self.turns, goal, user)
        if speculative and utt is not None:
            self._by_utt[utt] = p
            while len(self._by_utt) > 8:  # bounded: turns never resolved are forgotten
                del self._by_utt[next(iter(self._by_utt))]
        elif llm:
            self._remember_llm(p)
        return self.turns

    def confirm(self, utt: int) -> tuple[int, Goal | None] | None:
        p = self._by_utt.pop(utt, None)
        if p is None:
            return None
        if p.reply is not None:
            self.history.extend([("user", p.user), ("assistant", p.reply)])
        else:
            self._remember_llm(p)
        return p.turn, p.goal

    def cancel(self, utt: int) -> int | None:
        p = self._by_utt.pop(utt, None)
        return None if p is None else p.turn

    def replied(self, turn: int, text: str) -> None:
        p = self._llm.pop(turn, None)
        if p is not None:
            self.history.extend([("user", p.user), ("assistant", text)])
            return
        for q in self._by_utt.values():
            if q.turn == turn:
                q.reply = text

    def _remember_llm(self, p: _Pending) -> None:
        self._llm[p.turn] = p
        while len(self._llm) > 8:
            del self._llm[next(iter(self._llm))]


class AgentNode(Node):
    """Utterances and typed text in; each answered as a turn (client events, then the reply to speak)."""

    heard = Input(object, Block(8), doc="Utterance / Confirmed / Cancelled from the turn-taker")
    typed = Input(object, DropOldest(8), doc="TypedText / ClientTracks from the client")
    tracks = Input(list, Latest(), doc="what the vision node sees")
    reply = Output(object, doc="TurnItem (client events, Confirm, Cancel) and TurnReply, in turn order")
    drop_on_interrupt = False  # a barge-in stops the voice; goals of confirmed turns must still go out

    def __init__(
        self,
        core: ResponderCore,
        *,
        llm: Any = None,
        goal_sink: Callable[[Goal], None] | None = None,
        hears: bool = True,
        sees: bool = True,
        name: str = "agent",
    ) -> None:
        super().__init__(name)
        if not hears:  # no speech recognition in this graph: typed turns only
            del self.inputs["heard"]
        if not sees:  # no vision in this graph: no tracks input
            del self.inputs["tracks"]
        self.core = core
        self.llm = llm
        self.goal_sink = goal_sink
        self.book = AgentBook()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        data = event.data
        if isinstance(data, Utterance):
            await self._answer(data.text, event, ctx, utt=data.utt, speculative=data.speculative)
        elif isinstance(data, Confirmed):
            got = self.book.confirm(data.utt)
            if got is not None:
                turn, goal = got
                self._send_goal(goal)
                await ctx.emit("reply", Confirm(turn), parent=event)
        elif isinstance(data, Cancelled):
            turn = self.book.cancel(data.utt)
            if turn is not None:
                await ctx.emit("reply", Cancel(turn), parent=event)
        elif isinstance(data, TypedText):
            await self._answer(data.text, event, ctx, utt=None, speculative=False)
        elif isinstance(data, ClientTracks):
            self.core.feed_tracks(data.tracks, ctx.now_ns())
        elif isinstance(data, list) and event.port == "tracks":
            self.core.feed_tracks(data, ctx.now_ns())
        else:
            raise TypeError(f"node {self.name!r}: unexpected {type(data).__name__} on {event.port!r}")

    async def _answer(self, text: str, event: Event, ctx: NodeContext, *, utt: int | None, speculative: bool) -> None:
        reply = self.core.feed(text, ctx.now_ns())
        use_llm = self.llm is not None and reply.intent in LLM_INTENTS
        turn = self.book.open(utt, speculative=speculative, goal=reply.goal, user=text, llm=use_llm)
        emit = ctx.emit
        await emit("reply", TurnOpen(turn, speculative), parent=event)
        if utt is not None:
            await emit("reply", TurnEvent(turn, {"type": "utterance.end", "text": text, "turn": turn}), parent=event)
        if use_llm:  # free talk: the LLM's tokens stream through the voice as they arrive
            stream = self._llm_tokens(turn, text, tuple(self.book.history))
            await emit("reply", TurnReply(turn, reply, stream), parent=event)
            return
        for token in reply.tokens:
            await emit("reply", TurnEvent(turn, {"type": "agent.token", "turn": turn, "text": token}), parent=event)
        goal = reply.goal.to_json() if reply.goal else None
        body = {"type": "agent.reply", "turn": turn, "text": reply.text, "intent": reply.intent, "goal": goal}
        await emit("reply", TurnEvent(turn, body), parent=event)
        if not speculative:
            self._send_goal(reply.goal)
        await emit("reply", TurnReply(turn, reply), parent=event)

    def _send_goal(self, goal: Goal | None) -> None:
        if goal is not None and self.goal_sink is not None:
            self.goal_sink(goal)

    async def _llm_tokens(self, turn: int, text: str, history: tuple[tuple[str, str], ...]) -> AsyncIterator[str]:
        parts: list[str] = []
        async for token in self.llm.stream(text, history):
            parts.append(token)
            yield token
        self.book.replied(turn, "".join(parts))


class SpeechSink(Protocol):
    """Where a speaker puts its audio and caption marks; awaiting applies back-pressure."""

    async def audio(self, samples: np.ndarray, rate_hz: int) -> None: ...

    async def mark(self, payload: dict[str, Any]) -> None: ...


class Speaker(Protocol):
    """Streaming TTS for one session: speaks tokens into a sink; `interrupt()` stops it (barge-in)."""

    async def speak(self, tokens: Sequence[str] | AsyncIterator[str], sink: SpeechSink) -> None: ...

    def interrupt(self) -> None: ...


class _TurnSink:
    """The voice's output for one turn: audio and marks as turn items, the first audio also on `first_audio`."""

    def __init__(self, node: SpeakerNode, ctx: NodeContext, parent: Event, turn: int) -> None:
        self.node, self.ctx, self.parent, self.turn = node, ctx, parent, turn
        self.first_token_ns: int | None = None
        self.first = True

    async def audio(self, samples: np.ndarray, rate_hz: int) -> None:
        if self.first:
            self.first = False
            origin = self.first_token_ns if self.first_token_ns is not None else self.ctx.now_ns()
            self.ctx.emit_nowait("first_audio", FirstAudio(self.turn), origin_ns=origin)
        await self.ctx.emit("items", TurnAudio(self.turn, samples, rate_hz), parent=self.parent)

    async def mark(self, payload: dict[str, Any]) -> None:
        await self.ctx.emit("items", TurnMark(self.turn, payload), parent=self.parent)


class SpeakerNode(Node):
    """Speaks each TurnReply; passes the agent's other turn items on in order."""

    reply = Input(object, Block(8), doc="TurnReply to speak; other TurnItems pass through")
    items = Output(object, doc="TurnItem: the agent's, then audio, marks and TurnDone")
    first_audio = Output(FirstAudio, doc="once per spoken turn (origin: its first token reached the voice)")
    drop_on_interrupt = False  # replies older than the interrupt are dropped by age, the rest is kept
    MAX_WAITING = 4  # replies waiting while one is spoken; drop-oldest beyond

    def __init__(self, speaker: Speaker | None, name: str = "voice") -> None:
        super().__init__(name)
        self.speaker = speaker
        self._waiting: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._speaking: Event | None = None  # the TurnReply event being spoken
        self._stop_before_ns = -(1 << 62)  # replies about anything before this (an interrupt's origin) are void
        self.replies_dropped = 0

    async def run(self, ctx: NodeContext) -> None:
        async with asyncio.TaskGroup() as tg:
            worker = tg.create_task(self._speak_loop(ctx), name=f"{self.name}.speak")
            try:
                await ctx.serve(self)
            finally:
                worker.cancel()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        item = event.data
        if isinstance(item, TurnReply):
            if event.origin_ns < self._stop_before_ns:
                self.replies_dropped += 1
                return
            if len(self._waiting) >= self.MAX_WAITING:
                self._waiting.popleft()
                self.replies_dropped += 1
            self._waiting.append(event)
            self._wake.set()
            return
        if isinstance(item, Cancel):
            self._drop_turn(item.turn)
        await ctx.emit("items", item, parent=event)

    async def on_interrupt(self, event: Event, ctx: NodeContext) -> None:
        self._stop_before_ns = max(self._stop_before_ns, event.origin_ns)
        n = len(self._waiting)
        self._waiting = deque(e for e in self._waiting if e.origin_ns >= self._stop_before_ns)
        self.replies_dropped += n - len(self._waiting)
        cur = self._speaking
        if cur is not None and cur.origin_ns < self._stop_before_ns and self.speaker is not None:
            self.speaker.interrupt()

    def _drop_turn(self, turn: int) -> None:
        self._waiting = deque(e for e in self._waiting if e.data.turn != turn)
        cur = self._speaking
        if cur is not None and cur.data.turn == turn and self.speaker is not None:
            self.speaker.interrupt()

    async def _speak_loop(self, ctx: NodeContext) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                ev = self._waiting.popleft()
                self._speaking = ev
                try:
                    await self._speak(ev, ctx)
                finally:
                    self._speaking = None

    async def _speak(self, ev: Event, ctx: NodeContext) -> None:
        tr: TurnReply = ev.data
        turn = tr.turn
        sink = _TurnSink(self, ctx, ev, turn)
        tokens = self._tokens(tr, ev, ctx, sink)
        async with contextlib.aclosing(tokens):
            if self.speaker is None:
                async for token in tokens:
                    caption = {"type": "caption", "turn": turn, "text": token}
                    await ctx.emit("items", TurnEvent(turn, caption), parent=ev)
            else:
                await self.speaker.speak(tokens, sink)
        await ctx.emit("items", TurnDone(turn), parent=ev)

    async def _tokens(self, tr: TurnReply, ev: Event, ctx: NodeContext, sink: _TurnSink) -> AsyncIterator[str]:
        """The reply's tokens; an LLM's are also sent to the client as they arrive (then the whole reply)."""
        if tr.stream is None:
            for token in tr.reply.tokens:
                if sink.first_token_ns is None:
                    sink.first_token_ns = ctx.now_ns()
                yield token
            return
        turn, parts = tr.turn, []
        try:
            async for token in tr.stream:
                if sink.first_token_ns is None:
                    sink.first_token_ns = ctx.now_ns()
                parts.append(token)
                said = {"type": "agent.token", "turn": turn, "text": token}
                await ctx.emit("items", TurnEvent(turn, said), parent=ev)
                yield token
        except Exception as exc:  # a remote endpoint fails in many ways: say so, keep the session
            err = {"type": "error", "code": "llm_failed", "message": f"LLM endpoint failed: {exc}"}
            await ctx.emit("items", TurnEvent(turn, err), parent=ev)
        finally:
            with contextlib.suppress(Exception):
                await tr.stream.aclose()  # type: ignore[attr-defined]
        body = {"type": "agent.reply", "turn": turn, "text": "".join(parts), "intent": "llm", "goal": None}
        await ctx.emit("items", TurnEvent(turn, body), parent=ev)
