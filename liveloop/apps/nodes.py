"""The reply half of a voice session as a liveloop graph: measured, budgeted, exported at /metrics.

    heard (Inlet: Utterance, origin = end of the user's speech)
      └─► agent (ResponderNode: the command responder, tokens out)
            └─► voice (SpeakerNode: TTS into the session's transport; `first_audio` when audio goes out)

Budget ``turn_to_audio`` on heard.out → voice.first_audio (300 ms): the runtime
measures it per turn from the origin stamp (the end of the user's speech, or the
arrival of a typed turn), counts misses and goodput, and
`liveloop.graph.prometheus_text` exports it with every node's service time and
queue statistics. The recognizer (a worker thread fed by the session) and vision
stay outside the graph; barge-in acts on the speaker directly (a node's control
lane is served between events, and the speaker's event lasts the whole reply).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from liveloop.agent.responder import Reply, ResponderCore
from liveloop.graph import Block, Event, Graph, Inlet, Input, Node, NodeContext, Output

if TYPE_CHECKING:
    from liveloop.apps.voice import VoiceSession


LLM_INTENTS = frozenset({"ack", "greet"})  # what an LLM may answer; commands stay deterministic


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    turn: int


@dataclass(frozen=True, slots=True)
class TurnReply:
    turn: int
    reply: Reply
    stream: AsyncIterator[str] | None = None  # tokens still arriving (a streaming LLM), else reply.tokens


class ResponderNode(Node):
    """Utterance in, the reply (streamed as tokens to the client) out."""

    heard = Input(Utterance, Block(4))
    reply = Output(TurnReply)

    def __init__(self, core: ResponderCore, session: VoiceSession, name: str = "agent") -> None:
        super().__init__(name)
        self.core = core
        self.session = session

    async def process(self, event: Event, ctx: NodeContext) -> None:
        u: Utterance = event.data
        reply = self.core.feed(u.text, ctx.now_ns())
        if self.session.llm is not None and reply.intent in LLM_INTENTS:
            # free talk goes to the LLM; its tokens stream on through the speaker as they arrive
            await ctx.emit("reply", TurnReply(u.turn, reply, self.session.llm_tokens(u.turn, u.text)), parent=event)
            return
        self.session.announce_reply(u.turn, reply)
        await ctx.emit("reply", TurnReply(u.turn, reply), parent=event)


class SpeakerNode(Node):
    """Speaks each reply into the session's transport; emits `first_audio` when its first audio goes out."""

    reply = Input(TurnReply, Block(2))
    first_audio = Output(int)

    def __init__(self, session: VoiceSession, name: str = "voice") -> None:
        super().__init__(name)
        self.session = session

    async def process(self, event: Event, ctx: NodeContext) -> None:
        tr: TurnReply = event.data

        def first_audio() -> None:
            ctx.emit_nowait("first_audio", tr.turn, parent=event)

        await self.session.speak_reply(tr.turn, tr.reply, on_first_audio=first_audio, stream=tr.stream)


class _Sink(Node):
    """Ends the `first_audio` path (the budget is measured where it is emitted)."""

    first_audio = Input(int, Block(8))

    async def process(self, event: Event, ctx: NodeContext) -> None:
        return None


def reply_graph(session: VoiceSession, core: ResponderCore, *, budget_ms: float = 300.0) -> tuple[Graph, Inlet]:
    g = Graph(f"session{session.id}", clock=session.clock)
    heard = Inlet("heard", policy=Block(4), type_=Utterance)
    g.add(heard)
    g.add(ResponderNode(core, session))
    g.add(SpeakerNode(session))
    g.add(_Sink("played"))
    g.connect("heard.out", "agent.heard")
    g.connect("agent.reply", "voice.reply")
    g.connect("voice.first_audio", "played.first_audio")
    g.budget("heard.out", "voice.first_audio", ms=budget_ms, name="turn_to_audio")
    return g, heard


def graphs_text(graphs: list[Any]) -> str:
    """Prometheus text for the running session graphs ('' when there are none)."""
    from liveloop.graph import prometheus_text

    return prometheus_text(graphs) if graphs else ""
