"""The MQTT link against real brokers: credentials, bounded queues, no replay after a drop."""

from __future__ import annotations

import asyncio

import pytest

from liveloop.robots.broker import EmbeddedBroker, MosquittoBroker
from liveloop.robots.link import AuthRefused, Backoff, BrokerAddress, LinkConfig, LinkState, MqttLink, Outgoing


async def _connected(link: MqttLink, tg: asyncio.TaskGroup) -> None:
    tg.create_task(link.run())
    await asyncio.wait_for(link.wait_connected(), 5)


async def test_publish_and_receive(broker: EmbeddedBroker | MosquittoBroker) -> None:
    a = MqttLink(broker.address, LinkConfig("test-a"), (("liveloop/x/#", 1),))
    b = MqttLink(broker.address, LinkConfig("test-b"), ())
    async with asyncio.TaskGroup() as tg:
        await _connected(a, tg)
        await _connected(b, tg)
        assert b.publish_nowait(Outgoing("liveloop/x/state", b"hello", 1))
        await asyncio.wait_for(a.wait_incoming(), 5)
        (msg,) = a.drain()
        assert (msg.topic, msg.payload) == ("liveloop/x/state", b"hello")
        a.close()
        b.close()
    assert a.state is LinkState.CLOSED and a.stats.connects == 1


@pytest.mark.parametrize("user", ["robot-test", "intruder"])
async def test_wrong_credentials_refused(broker: EmbeddedBroker | MosquittoBroker, user: str) -> None:
    addr = broker.address
    bad = MqttLink(BrokerAddress(addr.host, addr.port, user, "wrong-password"), LinkConfig("test-bad"), ())
    with pytest.raises(AuthRefused, match=r"refused client 'test-bad'.*(Not authorized|Bad user name)"):
        await asyncio.wait_for(bad.run(), 5)
    assert bad.state is LinkState.CLOSED
    anon = MqttLink(BrokerAddress(addr.host, addr.port), LinkConfig("test-anon"), ())
    with pytest.raises(AuthRefused):
        await asyncio.wait_for(anon.run(), 5)


async def test_incoming_flood_stays_bounded(broker: EmbeddedBroker | MosquittoBroker) -> None:
    sub = MqttLink(broker.address, LinkConfig("test-sub", incoming_max=16), (("liveloop/f/#", 0),))
    pub = MqttLink(broker.address, LinkConfig("test-pub", outgoing_max=4096), ())
    async with asyncio.TaskGroup() as tg:
        await _connected(sub, tg)
        await _connected(pub, tg)
        for i in range(2000):
            pub.publish_nowait(Outgoing("liveloop/f/action", str(i).encode(), 0))
            if i % 200 == 0:
                await asyncio.sleep(0)
        for _ in range(100):  # let it arrive; nobody drains
            await asyncio.sleep(0.02)
            if sub.stats.received + sub.stats.incoming_drops >= 1900:
                break
        held = sub.drain()
        assert len(held) <= 16
        assert sub.stats.peak_incoming <= 16
        assert held[-1].payload == b"1999" or sub.stats.received < 2000  # the newest survive
        sub.close()
        pub.close()


async def test_nothing_queued_while_disconnected_and_reconnect(mosquitto: MosquittoBroker) -> None:
    link = MqttLink(mosquitto.address, LinkConfig("test-re", backoff_min_ms=20, backoff_max_ms=100), ())
    async with asyncio.TaskGroup() as tg:
        await _connected(link, tg)
        mosquitto.kill()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if link.state is not LinkState.CONNECTED:
                break
        assert link.state is not LinkState.CONNECTED
        assert not link.publish_nowait(Outgoing("liveloop/x/action", b"stale", 0))  # refused, not queued
        await mosquitto.start()
        await asyncio.wait_for(link.wait_connected(), 5)
        assert link.stats.connects == 2 and link.stats.outgoing_drops >= 1
        link.close()


def test_backoff_grows_and_resets() -> None:
    b = Backoff(50, 1000, 2.0, seed=1)
    delays = [b.next_delay_s() for _ in range(8)]
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert max(delays[4:]) > max(delays[:1])
    b.reset()
    assert b.next_delay_s() == pytest.approx(0.05)


def test_addresses_validated() -> None:
    a = BrokerAddress.from_url("mqtts://bob:p%40ss@example.org")
    assert (a.host, a.port, a.username, a.password, a.tls is not None) == ("example.org", 8883, "bob", "p@ss", True)
    assert BrokerAddress.from_url("mqtt://h:1884", "u", "p").port == 1884
    with pytest.raises(ValueError, match="must start with mqtt://"):
        BrokerAddress.from_url("http://h")
    with pytest.raises(ValueError, match="port must be in"):
        BrokerAddress("h", 0)
    with pytest.raises(ValueError, match="needs a username"):
        BrokerAddress("h", 1883, None, "pw")
    with pytest.raises(ValueError, match="client_id must be non-empty"):
        LinkConfig("")
