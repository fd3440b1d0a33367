import asyncio

from liveloop.graph import NS_PER_MS, MonotonicClock, VirtualClock


async def test_virtual_clock_autojumps_to_deadlines_in_order():
    clock = VirtualClock()
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.now_ns()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("b", 0.5))
        tg.create_task(sleeper("a", 0.2))
        tg.create_task(sleeper("c", 3600))  # an hour passes instantly
    assert woke == [("a", 200 * NS_PER_MS), ("b", 500 * NS_PER_MS), ("c", 3600 * 1000 * NS_PER_MS)]


async def test_virtual_clock_manual_advance():
    clock = VirtualClock(autojump=False)
    task = asyncio.get_running_loop().create_task(clock.sleep_until(5 * NS_PER_MS))
    await asyncio.sleep(0)
    clock.advance(ns=4 * NS_PER_MS)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(ns=NS_PER_MS)
    await asyncio.sleep(0)
    assert task.done()


def test_monotonic_clock_moves_forward():
    c = MonotonicClock()
    a = c.now_ns()
    assert c.now_ns() >= a
