"""Edge policies: exact drop counts, back-pressure, control lane, end of stream order."""

import asyncio

import pytest

from liveloop.graph import Block, DropOldest, Event, EventKind, Latest, parse_policy
from liveloop.graph.channel import Channel, Inbox


def ev(i: int, kind: EventKind = EventKind.DATA) -> Event:
    return Event(i, i, i, "src", "inp", None, kind)


def drain(inbox: Inbox) -> list:
    out = []
    while (item := inbox.get_nowait()) is not None:
        out.append(item)
    return out


async def test_latest_keeps_only_newest_and_counts_drops():
    inbox = Inbox()
    ch = Channel("n.inp", Latest(), inbox)
    for i in range(10):
        await ch.put(ev(i), i)
    assert [e.data for e in drain(inbox)] == [9]
    assert ch.stats.drops == 9
    assert ch.stats.puts == 10
    assert ch.stats.peak == 1


async def test_drop_oldest_keeps_newest_n():
    inbox = Inbox()
    ch = Channel("n.inp", DropOldest(3), inbox)
    for i in range(10):
        await ch.put(ev(i), i)
    assert [e.data for e in drain(inbox)] == [7, 8, 9]
    assert ch.stats.drops == 7
    assert ch.stats.peak == 3


async def test_block_applies_back_pressure_without_loss():
    inbox = Inbox()
    ch = Channel("n.inp", Block(2), inbox)
    await ch.put(ev(0), 0)
    await ch.put(ev(1), 1)
    third = asyncio.create_task(ch.put(ev(2), 2))
    await asyncio.sleep(0)
    assert not third.done()  # full: the producer waits
    got = await inbox.get()
    assert got.data == 0
    await asyncio.wait_for(third, 1)
    assert [e.data for e in drain(inbox)] == [1, 2]
    assert ch.stats.drops == 0


async def test_interrupt_overtakes_queued_data_but_eos_stays_in_order():
    inbox = Inbox()
    ch = Channel("n.inp", Block(8), inbox)
    for i in range(3):
        await ch.put(ev(i), i)
    await ch.put(ev(99, EventKind.EOS), 10)
    await ch.put(ev(50, EventKind.INTERRUPT), 11)
    kinds = [(e.kind, e.data) for e in drain(inbox)]
    assert kinds == [
        (EventKind.INTERRUPT, 50),
        (EventKind.DATA, 0),
        (EventKind.DATA, 1),
        (EventKind.DATA, 2),
        (EventKind.EOS, 99),
    ]


async def test_clear_drops_data_but_keeps_end_of_stream():
    inbox = Inbox()
    ch = Channel("n.inp", Block(8), inbox)
    for i in range(4):
        await ch.put(ev(i), i)
    await ch.put(ev(9, EventKind.EOS), 5)
    assert inbox.clear_data() == 4
    assert ch.stats.drops == 4
    assert [e.kind for e in drain(inbox)] == [EventKind.EOS]


async def test_inbox_round_robins_between_inputs():
    inbox = Inbox()
    a = Channel("n.a", Block(8), inbox)
    b = Channel("n.b", Block(8), inbox)
    for i in range(3):
        await a.put(ev(i), i)
        await b.put(ev(10 + i), i)
    assert [e.data for e in drain(inbox)] == [0, 10, 1, 11, 2, 12]


def test_put_nowait_counts_a_drop_on_a_full_block_edge():
    inbox = Inbox()
    ch = Channel("n.inp", Block(1), inbox)
    assert ch.put_nowait(ev(0), 0)
    assert not ch.put_nowait(ev(1), 1)
    assert ch.stats.drops == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("block", Block()), ("block(4)", Block(4)), ("latest", Latest()), ("drop_oldest(3)", DropOldest(3))],
)
def test_parse_policy(text, expected):
    assert parse_policy(text) == expected


@pytest.mark.parametrize("text", ["fifo", "block(x)", "latest(2)", "drop_oldest(0)", "block(0)"])
def test_parse_policy_rejects_bad_text_naming_it(text):
    with pytest.raises(ValueError, match=r"policy|must be"):
        parse_policy(text)
