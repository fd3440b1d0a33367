"""Real brokers for the robot tests: amqtt in-process and private Mosquitto processes.

Each Mosquitto runs on a free port with its own config and password file in a
temp dir and is killed at the end; the system's mosquitto service (if any) is
never used. Without the `mosquitto` binary these tests skip, unless
LIVELOOP_REQUIRE_MOSQUITTO=1 (CI) makes that an error.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from liveloop.robots.broker import Credentials, EmbeddedBroker, MosquittoBroker


def _need_mosquitto() -> None:
    if not MosquittoBroker.available():
        if os.environ.get("LIVELOOP_REQUIRE_MOSQUITTO") == "1":
            pytest.fail(
                "mosquitto is required (LIVELOOP_REQUIRE_MOSQUITTO=1) but not installed: apt-get install mosquitto"
            )
        pytest.skip("mosquitto not installed (apt-get install mosquitto mosquitto-clients)")


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    _need_mosquitto()
    broker = MosquittoBroker(Credentials("robot-test", "s3cret-pw"), workdir=tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        broker.kill()
        await broker.stop()


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[EmbeddedBroker]:
    broker = EmbeddedBroker(Credentials("robot-test", "s3cret-pw"))
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(params=["amqtt", "mosquitto"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedBroker | MosquittoBroker]:
    if request.param == "amqtt":
        b: EmbeddedBroker | MosquittoBroker = EmbeddedBroker(Credentials("robot-test", "s3cret-pw"))
    else:
        _need_mosquitto()
        b = MosquittoBroker(Credentials("robot-test", "s3cret-pw"), workdir=tmp_path)
    await b.start()
    try:
        yield b
    finally:
        if isinstance(b, MosquittoBroker):
            b.kill()
        await b.stop()
