"""An optional OpenAI-compatible streaming chat-completions responder.

Any server that speaks ``POST {url}/chat/completions`` with ``"stream": true``
(OpenAI, vLLM, llama.cpp's server, Ollama's OpenAI endpoint …) can answer the
turns the command responder does not own (greetings and free talk; robot
commands and "what do you see?" stay deterministic). Configure with
`LlmConfig` or the environment::

    LIVELOOP_LLM_URL     base URL, e.g. http://127.0.0.1:8000/v1
    LIVELOOP_LLM_MODEL   model name
    LIVELOOP_LLM_KEY     bearer key (optional)

`SseDecoder` is the sans-I/O part: bytes of a ``text/event-stream`` in, text
deltas out, ``done`` once ``data: [DONE]`` arrives; a malformed event raises
`LlmError` naming it. `LlmClient.stream(...)` is the aiohttp adapter.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class LlmError(RuntimeError):
    """The endpoint answered something that is not an OpenAI-style stream (the message says what)."""


@dataclass(frozen=True, slots=True)
class LlmConfig:
    url: str
    model: str
    api_key: str | None = None
    system_prompt: str = (
        "You are liveloop, a voice agent. Answer in one or two short spoken sentences, no lists, no markdown."
    )
    max_tokens: int = 120
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"LLM url must start with http:// or https://, got {self.url!r}")
        if not self.model:
            raise ValueError("LLM model must not be empty")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmConfig | None:
        env = os.environ if env is None else env
        url, model = env.get("LIVELOOP_LLM_URL"), env.get("LIVELOOP_LLM_MODEL")
        if not url:
            return None
        if not model:
            raise ValueError("LIVELOOP_LLM_URL is set but LIVELOOP_LLM_MODEL is not")
        return cls(url=url.rstrip("/"), model=model, api_key=env.get("LIVELOOP_LLM_KEY") or None)


class SseDecoder:
    """``text/event-stream`` bytes → content deltas (sans-I/O)."""

    def __init__(self, max_line: int = 1 << 20) -> None:
        self._buf = b""
        self._max_line = max_line
        self.done = False
        self.events = 0

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        out: list[str] = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if not line.startswith(b"data:"):
                continue  # blank separators, comments (":"), "event:" and "id:" lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                continue
            self.events += 1
            try:
                obj = json.loads(payload)
            except ValueError as exc:
                raise LlmError(f"stream event {self.events} is not JSON: {payload[:120]!r}") from exc
            if isinstance(obj, dict) and "error" in obj:
                raise LlmError(f"the endpoint reported an error: {obj['error']}")
            try:
                choices = obj["choices"]
                delta = choices[0].get("delta", {}) if choices else {}
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise LlmError(f"stream event {self.events} is not a chat.completion.chunk: {payload[:120]!r}") from exc
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.append(text)
        if len(self._buf) > self._max_line:
            raise LlmError(f"stream line longer than {self._max_line} bytes without a newline")
        return out


class LlmClient:
    """Streams a reply from an OpenAI-compatible endpoint (aiohttp)."""

    def __init__(self, config: LlmConfig) -> None:
        self.config = config

    def request_body(self, history: Sequence[tuple[str, str]], text: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.config.system_prompt}]
        messages += [{"role": role, "content": content} for role, content in history]
        messages.append({"role": "user", "content": text})
        return {"model": self.config.model, "messages": messages, "stream": True, "max_tokens": self.config.max_tokens}

    async def stream(self, text: str, history: Sequence[tuple[str, str]] = ()) -> AsyncIterator[str]:
        import aiohttp

        c = self.config
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if c.api_key:
            headers["Authorization"] = f"Bearer {c.api_key}"
        timeout = aiohttp.ClientTimeout(total=c.timeout_s)
        dec = SseDecoder()
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(f"{c.url}/chat/completions", json=self.request_body(history, text), headers=headers) as r,
        ):
            if r.status != 200:
                raise LlmError(f"{c.url}/chat/completions answered HTTP {r.status}: {(await r.text())[:200]}")
            async for chunk in r.content.iter_any():
                for delta in dec.feed(chunk):
                    yield delta
                if dec.done:
                    return
