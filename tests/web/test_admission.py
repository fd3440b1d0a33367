"""Admission: the sans-I/O decision, and the app refusing (then taking again) sessions over a real /ws."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import numpy as np
import pytest
import websockets
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from websockets.exceptions import InvalidStatus

from liveloop.apps.voice import AgentStack
from liveloop.web.admission import Admission, AdmissionConfig, Refusal
from liveloop.web.app import SESSIONS_KEY, WebConfig, create_app

MS = 1_000_000
S = 1_000_000_000


def test_the_session_limit_and_a_lagging_session_each_refuse():
    a = Admission(AdmissionConfig(max_sessions=2, max_lag_ms=1000, hold_s=5))
    assert a.verdict(0, live=1) is None
    v = a.verdict(0, live=2)
    assert v is not None and v.refusal is Refusal.SESSION_LIMIT and "at most 2" in v.message
    a.observe(1 * S, 900 * MS, session=7)  # behind, but within the limit
    assert a.verdict(1 * S, live=1) is None
    a.observe(2 * S, 1600 * MS, session=7)
    v = a.verdict(2 * S, live=1)
    assert v is not None and v.refusal is Refusal.BEHIND
    assert "session 7" in v.message and "1.6 s" in v.message and v.retry_after_s == 5
    assert v.to_json() == {"type": "error", "code": "busy", "reason": "behind", "message": v.message}
    a.observe(3 * S, 0, session=None)  # caught up: still refused until the hold has passed
    assert a.verdict(6 * S, live=1) is not None
    assert a.verdict(7 * S + 1, live=1) is None
    assert a.refused == {Refusal.SESSION_LIMIT: 1, Refusal.BEHIND: 2, Refusal.CAPACITY: 0}


def test_a_lasting_crossing_teaches_a_cap_that_rises_again_when_no_crossing_follows():
    a = Admission(AdmissionConfig(max_sessions=8, max_lag_ms=750, hold_s=10, probe_s=60, confirm_s=2))
    a.observe(0, 900 * MS, session=3, live=5)  # over the limit with 5 live ...
    a.observe(1 * S, 1200 * MS, session=3, live=5)
    assert a.cap is None  # ... not for confirm_s yet
    a.observe(2 * S, 1500 * MS, session=3, live=4)  # a session left meanwhile: the 5 it crossed with count
    assert a.cap == 4
    a.observe(3 * S, 2000 * MS, session=3, live=4)  # the same crossing does not teach twice
    assert a.cap == 4
    a.observe(5 * S, 100 * MS, session=3, live=4)  # caught up; the hold runs until 13 s
    v = a.verdict(14 * S, live=4)
    assert v is not None and v.refusal is Refusal.CAPACITY
    assert "keeps up with 4 sessions" in v.message and "with 5, session 3" in v.message
    assert a.verdict(14 * S, live=3) is None
    a.observe(61 * S, 0, live=3)  # under a minute since the crossing: still 4
    assert a.cap == 4
    a.observe(62 * S, 0, live=3)
    assert a.cap == 5
    a.observe(70 * S, 800 * MS, live=5)  # a new crossing, held: lower again
    a.observe(72 * S, 800 * MS, live=5)
    assert a.cap == 4
    for k in range(1, 5):  # four minutes without one: back to max_sessions, no cap
        a.observe((72 + 60 * k) * S, 0, live=1)
    assert a.cap is None


def test_a_one_off_stall_teaches_no_cap_and_the_cap_can_be_turned_off():
    a = Admission(AdmissionConfig(max_lag_ms=750, hold_s=1, confirm_s=2))
    a.observe(0, 3 * S, session=1, live=1)  # the first model call, say
    a.observe(1 * S, 0, session=1, live=1)
    a.observe(3 * S, 3 * S, session=1, live=1)  # another: the clock starts again
    assert a.cap is None
    off = Admission(AdmissionConfig(max_lag_ms=750, probe_s=None, confirm_s=0))
    off.observe(0, 3 * S, live=6)
    assert off.cap is None and off.behind(0)


def test_the_lag_check_can_be_turned_off_and_bad_configs_are_named():
    a = Admission(AdmissionConfig(max_lag_ms=None))
    a.observe(0, 60 * S, session=1)
    assert a.verdict(0, live=1) is None and not a.behind(0)
    for kw, word in (({"max_sessions": 0}, "max_sessions"), ({"max_lag_ms": 0}, "max_lag_ms"),
                     ({"hold_s": -1}, "hold_s"), ({"sample_s": 0}, "sample_s"), ({"probe_s": 0}, "probe_s"),
                     ({"confirm_s": -1}, "confirm_s")):  # fmt: skip
        with pytest.raises(ValueError, match=word):
            AdmissionConfig(**kw)


# -- the app --------------------------------------------------------------------------
LOUD = 0.3


def energy_vad(frame: np.ndarray) -> float:
    return 0.95 if np.abs(frame).max() > LOUD / 2 else 0.02


@dataclass
class SlowRecognizer:
    """Test double for a machine past capacity: takes twice real time over each chunk (in its worker thread)."""

    slowdown: float = 2.0

    def feed(self, samples: np.ndarray) -> list:
        time.sleep(self.slowdown * len(samples) / 16_000)
        return []

    def end_segment(self, speech: bool = False) -> list:
        return []


def ws_url(srv: TestServer) -> str:
    return str(srv.make_url("/ws")).replace("http://", "ws://")


async def speak(ws, seconds: float) -> None:
    """Loud audio in real time: 20 ms int16 frames, each sent when it has been 'captured'."""
    pcm = (np.sin(np.arange(320) / 3) * LOUD * 32767).astype("<i2").tobytes()
    t0 = time.monotonic()
    for k in range(round(seconds / 0.02)):
        await asyncio.sleep(max(0.0, t0 + (k + 1) * 0.02 - time.monotonic()))
        await ws.send(pcm)


async def attempt(srv: TestServer) -> tuple[int, dict | None, str | None]:
    """Open a /ws session: (101, None, None) when admitted (then closed), else (status, body, Retry-After)."""
    try:
        async with websockets.connect(ws_url(srv)):
            return 101, None, None
    except InvalidStatus as exc:
        r = exc.response
        return r.status_code, json.loads(r.body or b"{}"), r.headers.get("Retry-After")


async def test_a_session_that_falls_behind_closes_the_door_until_it_has_caught_up():
    stack = AgentStack(vad=lambda: energy_vad, recognizer=SlowRecognizer, offload=True)
    cfg = AdmissionConfig(max_sessions=4, max_lag_ms=400, hold_s=0.5, sample_s=0.05)
    app = create_app(WebConfig(port=0, admission=cfg), stack)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        async with websockets.connect(ws_url(srv)) as talker:
            (sid,) = app[SESSIONS_KEY]
            refused = None
            async with asyncio.TaskGroup() as tg:
                speaking = tg.create_task(speak(talker, 6.0))
                async with asyncio.timeout(30):  # a bound for a stuck test, not a timing
                    while refused is None:
                        await asyncio.sleep(0.2)
                        status, body, retry = await attempt(srv)
                        if status == 503:
                            refused = (body, retry)
                speaking.cancel()
            body, retry = refused
            assert body["code"] == "busy" and body["reason"] == "behind"
            assert f"session {sid} listened" in body["message"] and retry is not None and int(retry) >= 1
            async with ClientSession() as http, http.get(srv.make_url("/metrics")) as r:
                text = await r.text()
            assert 'liveloop_sessions_refused_total{reason="behind"}' in text
            lag_line = next(ln for ln in text.splitlines() if ln.startswith("liveloop_hearing_lag_seconds "))
            assert float(lag_line.split()[1]) > 0.4
        # the lagging client left: once the hold has passed a new session is taken again
        async with asyncio.timeout(30):
            while (await attempt(srv))[0] != 101:
                await asyncio.sleep(0.2)
    finally:
        await srv.close()


async def test_the_session_limit_refuses_with_its_own_reason():
    cfg = AdmissionConfig(max_sessions=1)
    srv = TestServer(create_app(WebConfig(port=0, admission=cfg), AgentStack()), host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        async with websockets.connect(ws_url(srv)):
            status, body, _retry = await attempt(srv)
            assert status == 503 and body is not None and body["reason"] == "session_limit"
        async with asyncio.timeout(10):
            while (await attempt(srv))[0] != 101:  # the first one's session ends shortly after it closes
                await asyncio.sleep(0.05)
    finally:
        await srv.close()


def test_serve_names_a_bad_admission_flag_before_loading_anything():
    from liveloop.cli import main

    for argv, word in ((["--max-sessions", "0"], "max_sessions"), (["--max-lag-ms", "-5"], "max_lag_ms"),
                       (["--capacity-probe-s", "-1"], "probe_s")):  # fmt: skip
        with pytest.raises(SystemExit, match=word):
            main(["serve", "--port", "0", *argv])
