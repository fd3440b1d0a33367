"""One session, one graph: the voice agent of DESIGN.md §1 as a `liveloop.graph.Graph`.

    mic ──► vad ──► turns ──► asr ──transcript──────────────────────────────► egress ──► transport
                      ▲ │ ◄──────┘ hypothesis (feedback)                          ▲
                      │ └──turns──► agent ──► voice ──► gate ──────────────────────┘
             typed ───┼───────────────┘ ▲
             video ──► vision ──tracks──┘ (and its events to the egress)

    node    adapter around                 input ← from                     policy
    mic     MicIngress (a door)            ← transport.on_audio             drop_oldest(500), gaps filled
    vad     VadNode (Silero)               audio ← mic.out                  block(64)
    turns   TurnNode (TurnTaker)           frames ← vad.frames              block(64)
                                           hypotheses ← asr.hypothesis      drop_oldest(4): the one cycle is lossy
    asr     AsrNode (Transcription)        audio ← turns.asr                block(128)
    typed   Ingress (a door)               ← transport.on_message           drop_oldest(8)
    video   Ingress (a door)               ← transport.on_video             latest
    vision  VisionNode                     frame ← video.out                latest
    agent   AgentNode (AgentBook)          heard ← turns.turns              block(8)
                                           typed ← typed.out                drop_oldest(8)
                                           tracks ← vision.tracks           latest
    voice   SpeakerNode (TtsSpeaker)       reply ← agent.reply              block(8)
    gate    GateNode (SpeculationGate)     items ← voice.items              block(64)
    egress  EgressNode (the Transport)     speech ← gate.out                block(64)
                                           events ← turns.events, asr.transcript, vision.events   block(256)

The transport reports each turn's first sample leaving the server through
`EgressNode.sent`, which emits `egress.first_sent` where the turn budgets end.

Barge-in is an INTERRUPT that the turn-taker puts on the control lane of its
`turns` output when the user starts speaking; it overtakes queued data through
agent, voice and gate to the egress. A typed ``{"type": "interrupt"}`` enters
the same way through the `typed` door.

Budgets (DESIGN.md §1; measured by the runtime, exported at /metrics, shown on
the page's dashboard and in the end-of-run table):

    voice_to_voice   mic.out → egress.first_sent    end of user speech → first agent sample leaves the server
    text_to_voice    typed.out → egress.first_sent  a typed turn's arrival → first agent sample leaves
    mic_to_text      mic.out → asr.transcript       last sample heard → transcript out
    tts_first_audio  voice.first_audio (itself)     first text token into the voice → its first audio
    barge_in         turns.turns → egress.speech    start of user speech → the egress stops the agent (INTERRUPT)
    frame_to_tracks  video.out → vision.tracks      camera frame captured → tracks out
"""

from __future__ import annotations

from dataclasses import dataclass

from liveloop.agent.responder import ResponderCore
from liveloop.apps.egress import EgressNode, Stage, Transport
from liveloop.apps.gate import GateNode
from liveloop.apps.ingress import Ingress, MicIngress
from liveloop.apps.listen import AsrNode, Transcription, TurnNode, VadNode
from liveloop.apps.messages import ClientInput
from liveloop.apps.reply import AgentNode, SpeakerNode
from liveloop.apps.see import VisionNode
from liveloop.apps.stack import AgentStack
from liveloop.apps.stats import DEFAULT_BUDGETS, Budget
from liveloop.apps.turns import TurnTaker
from liveloop.graph import DropOldest, EventKind, Graph, Latest
from liveloop.graph.clock import Clock

UNLISTED_MS = 300.0  # a path the dashboard does not list (text_to_voice)
MIC_QUEUE = 500  # 10 s of 20 ms frames, drop-oldest: a stalled graph must not grow memory
STAGES = (  # audio.start's breakdown: which node's output ends each stage
    Stage("endpoint", "turns", first=True),
    Stage("asr_final", "asr"),
    Stage("responder", "agent"),
    Stage("tts_first_audio", "voice"),
    Stage("hold", "gate"),
)
PATHS = {  # budget name → (from, to, kind)
    "voice_to_voice": ("mic.out", "egress.first_sent", EventKind.DATA),
    "text_to_voice": ("typed.out", "egress.first_sent", EventKind.DATA),
    "mic_to_text": ("mic.out", "asr.transcript", EventKind.DATA),
    "tts_first_audio": ("voice.first_audio", "voice.first_audio", EventKind.DATA),
    "barge_in": ("turns.turns", "egress.speech", EventKind.INTERRUPT),
    "frame_to_tracks": ("video.out", "vision.tracks", EventKind.DATA),
}


@dataclass(frozen=True, slots=True)
class Doors:
    """Where a transport feeds the graph (None where the part is absent)."""

    mic: MicIngress | None
    video: Ingress | None
    typed: Ingress
    agent: AgentNode
    egress: EgressNode
    asr: AsrNode | None


def voice_graph(
    transport: Transport,
    stack: AgentStack,
    *,
    clock: Clock,
    name: str = "session",
    budgets: tuple[Budget, ...] = DEFAULT_BUDGETS,
) -> tuple[Graph, Doors]:
    """The session graph for `transport`, with the parts `stack` has (see the module docstring)."""
    g = Graph(name, clock=clock)
    typed = Ingress("typed", policy=DropOldest(8), clock=clock, type_=ClientInput)  # type: ignore[arg-type]
    hears = stack.recognizer is not None and stack.vad is not None
    agent = AgentNode(
        ResponderCore(stack.responder),
        llm=stack.llm,
        goal_sink=stack.goal_sink,
        hears=hears,
        sees=stack.vision is not None,
    )
    egress = EgressNode(transport, stages=STAGES, spoken_source="mic", events=hears or stack.vision is not None)
    for node in (typed, agent, SpeakerNode(stack.speaker() if stack.speaker else None), GateNode(), egress):
        g.add(node)
    g.connect("typed.out", "agent.typed")
    g.connect("agent.reply", "voice.reply")
    g.connect("voice.items", "gate.items")
    g.connect("gate.out", "egress.speech")

    mic = asr = None
    if hears:
        assert stack.recognizer is not None and stack.vad is not None
        mic = MicIngress("mic", policy=DropOldest(MIC_QUEUE), clock=clock)
        asr = AsrNode(Transcription(stack.recognizer(), chunk_ms=stack.asr_chunk_ms), offload=stack.offload)
        for node in (mic, VadNode(stack.vad()), TurnNode(TurnTaker(stack.endpoint)), asr):
            g.add(node)
        g.connect("mic.out", "vad.audio")
        g.connect("vad.frames", "turns.frames")
        g.connect("turns.asr", "asr.audio")
        g.connect("asr.hypothesis", "turns.hypotheses")  # the feedback edge (drop_oldest: cycles must be lossy)
        g.connect("turns.turns", "agent.heard")
        g.connect("turns.events", "egress.events")
        g.connect("asr.transcript", "egress.events")

    video = None
    if stack.vision is not None:
        video = Ingress("video", policy=Latest(), clock=clock)
        g.add(video)
        g.add(VisionNode(stack.vision(), offload=stack.offload))
        g.connect("video.out", "vision.frame")
        g.connect("vision.tracks", "agent.tracks")
        g.connect("vision.events", "egress.events")

    wanted = {b.name: b for b in budgets}
    for bname, (src, dst, kind) in PATHS.items():
        b = wanted.get(bname)
        ms = b.ms if b is not None else UNLISTED_MS
        if src.split(".")[0] in g.nodes and dst.split(".")[0] in g.nodes:
            g.budget(src, dst, ms=ms, name=bname, kind=kind)
    g.build()  # validate now: a wiring mistake is named here, not when the first client connects
    return g, Doors(mic, video, typed, agent, egress, asr)


__all__ = ["PATHS", "STAGES", "Doors", "voice_graph"]
