"""The OpenAI-compatible streaming responder: SSE decoding (no loop) and a streamed turn over /ws.

A remote LLM cannot run here: `fake_openai_server` is a test double that speaks the
OpenAI chat-completions streaming format over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
import websockets
from aiohttp import web
from aiohttp.test_utils import TestServer

from liveloop.agent.llm import LlmClient, LlmConfig, LlmError, SseDecoder
from liveloop.apps.voice import AgentStack
from liveloop.web.app import WebConfig, create_app


def chunk(text: str) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_sse_decoder_handles_split_chunks_comments_and_done():
    stream = b": keep-alive\n\n" + chunk("Hel") + chunk("lo!") + b'data: {"choices": []}\n\n' + b"data: [DONE]\n\n"
    dec = SseDecoder()
    out: list[str] = []
    for i in range(0, len(stream), 7):  # arbitrary network splits
        out += dec.feed(stream[i : i + 7])
    assert "".join(out) == "Hello!" and dec.done


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"data: {nope\n", "not JSON"),
        (b'data: {"choices": 3}\n', "not a chat.completion.chunk"),
        (b'data: {"error": {"message": "quota"}}\n', "reported an error"),
    ],
)
def test_sse_decoder_names_malformed_events(data, message):
    with pytest.raises(LlmError, match=message):
        SseDecoder().feed(data)


def test_config_from_env_and_validation():
    assert LlmConfig.from_env({}) is None
    cfg = LlmConfig.from_env({"LIVELOOP_LLM_URL": "http://127.0.0.1:9/v1/", "LIVELOOP_LLM_MODEL": "m"})
    assert cfg is not None and cfg.url == "http://127.0.0.1:9/v1" and cfg.api_key is None
    with pytest.raises(ValueError, match="LIVELOOP_LLM_MODEL is not"):
        LlmConfig.from_env({"LIVELOOP_LLM_URL": "http://x"})
    with pytest.raises(ValueError, match="must start with http"):
        LlmConfig(url="ftp://x", model="m")


@pytest.fixture
async def fake_openai_server():
    seen: list[dict] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization")})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for word in ("Why ", "hello, ", "friend."):
            await resp.write(chunk(word))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        yield str(srv.make_url("/v1")), seen
    finally:
        await srv.close()


async def test_client_streams_deltas(fake_openai_server):
    url, seen = fake_openai_server
    client = LlmClient(LlmConfig(url=url, model="tiny", api_key="k"))
    got = [t async for t in client.stream("hi", [("user", "a"), ("assistant", "b")])]
    assert got == ["Why ", "hello, ", "friend."]
    body = seen[0]["body"]
    assert body["stream"] is True and body["model"] == "tiny" and seen[0]["auth"] == "Bearer k"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]


async def test_free_talk_goes_to_the_llm_and_commands_do_not(fake_openai_server):
    url, _ = fake_openai_server
    stack = AgentStack(llm=LlmClient(LlmConfig(url=url, model="tiny")))
    srv = TestServer(create_app(WebConfig(port=0), stack), host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        async with websockets.connect(str(srv.make_url("/ws")).replace("http://", "ws://")) as ws:
            replies = []
            tokens: list[str] = []
            await ws.send(json.dumps({"type": "text", "text": "tell me something nice"}))
            await ws.send(json.dumps({"type": "text", "text": "go left"}))
            while len(replies) < 2:
                ev = json.loads(await ws.recv())
                if ev["type"] == "agent.reply":
                    replies.append(ev)
                elif ev["type"] == "agent.token" and ev["turn"] == 1:
                    tokens.append(ev["text"])
            by_turn = {r["turn"]: r for r in replies}
            assert by_turn[1]["intent"] == "llm" and by_turn[1]["text"] == "Why hello, friend."
            assert tokens == ["Why ", "hello, ", "friend."]
            assert by_turn[2]["intent"] == "move"
    finally:
        await srv.close()
