"""The simulated robot's loop (`SimRobot._loop`) on a virtual clock with a scripted link: when it wakes."""

from __future__ import annotations

from liveloop.graph.clock import VirtualClock
from liveloop.robots.link import BrokerAddress, Incoming, Outgoing
from liveloop.robots.protocol import Action, ActionChunk, Codec, RobotMode, RobotState, RobotStatus
from liveloop.robots.robot import SimConfig
from liveloop.robots.sim import SimRobot

MS = 1_000_000
CODEC = Codec("sim")


class ScriptedLink:
    """Delivers scripted messages once the clock has passed their receipt time; keeps what is published."""

    def __init__(self, clock: VirtualClock, script: list[Incoming]) -> None:
        self.clock = clock
        self.script = sorted(script, key=lambda m: m.received_ns)
        self.sent: list[tuple[int, Outgoing]] = []

    def drain(self) -> list[Incoming]:
        now = self.clock.now_ns()
        due = [m for m in self.script if m.received_ns <= now]
        self.script = self.script[len(due) :]
        return due

    def publish_nowait(self, msg: Outgoing) -> bool:
        self.sent.append((self.clock.now_ns(), msg))
        return True


def chunk_at(seq: int, received_ns: int, x: float, y: float) -> Incoming:
    msg = ActionChunk(robot="sim", seq=seq, actions=[Action(received_ns + k * 100 * MS, [x, y, -1.0]) for k in (1, 2)])
    topic, payload = CODEC.encode(msg)
    return Incoming(topic, payload, received_ns)


async def test_loop_wakes_for_the_watchdog_between_ticks() -> None:
    clock = VirtualClock()
    robot = SimRobot(SimConfig(seed=0, rate_hz=50, watchdog_ms=100), BrokerAddress(), spin_ms=0, clock=clock)
    # actions arrive off the tick grid (ticks at 20, 40, … ms); the last one at 53 ms
    script = [chunk_at(i, at, 0.0, -0.7) for i, at in enumerate((27 * MS, 53 * MS))]
    link = ScriptedLink(clock, script)
    robot.link = link  # type: ignore[assignment]
    await robot._loop(duration_s=0.4)
    decoded = [(t, CODEC.decode(o.topic, o.payload)) for t, o in link.sent]
    stops = [(t, m) for t, m in decoded if isinstance(m, RobotStatus) and m.mode is RobotMode.STOPPED]
    assert len(stops) == 1
    t_stop, status = stops[0]
    # a chunk is taken off the link at the robot's next wake-up (the tick at 60 ms) but counts from its receipt
    assert status.t_ns == t_stop == 53 * MS + 100 * MS + 1  # on time, not at the tick at 160 ms
    ticks = [t for t, m in decoded if isinstance(m, RobotState)]
    assert ticks == [20 * MS * k for k in range(1, len(ticks) + 1)]  # states stay on the grid
    assert robot.pacer.misses == 0
