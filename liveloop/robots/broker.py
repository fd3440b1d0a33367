"""MQTT brokers liveloop can start itself: amqtt in-process (the default) and Mosquitto as a process.

`EmbeddedBroker` runs amqtt inside the current event loop when no broker URL is
given: loopback only, anonymous access off, one user whose password is checked
by `PasswordAuth` (salted SHA-256 in memory; the password itself is not kept).

`MosquittoBroker` starts Debian's `mosquitto` binary on a free port with its own
configuration and password file (made with `mosquitto_passwd -b -c`) in a
private directory, never touching a system-wide service. Tests and benchmarks
use it to kill and restart a real broker mid-run.

Both have ``await start() -> BrokerAddress`` and ``await stop()`` and are async
context managers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from liveloop.graph.errors import LiveloopError
from liveloop.robots.link import BrokerAddress

DEFAULT_USER = "liveloop"
START_TIMEOUT_S = 5.0


class BrokerError(LiveloopError):
    """A broker could not be started (names the broker and why)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def wait_listening(host: str, port: int, timeout_s: float = START_TIMEOUT_S) -> bool:
    """Poll until something accepts TCP connections on host:port."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _digest(salt: str, password: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


try:
    from amqtt.plugins.base import BaseAuthPlugin
    from amqtt.session import Session
except ImportError:  # pragma: no cover - amqtt is a dependency of liveloop.robots
    BaseAuthPlugin = object  # type: ignore[assignment,misc]
    Session = Any  # type: ignore[assignment,misc]


class PasswordAuth(BaseAuthPlugin):  # type: ignore[misc,valid-type]
    """amqtt auth plugin: users → salted SHA-256 digests, compared in constant time."""

    @dataclass
    class Config:
        salt: str = ""
        users: dict[str, str] = field(default_factory=dict)  # username → sha256(salt + password)

    async def authenticate(self, *, session: Session) -> bool:
        cfg = self.context.config
        digest = cfg.users.get(session.username or "")
        if digest is None or session.password is None:
            return False
        password = session.password
        if isinstance(password, bytes):
            password = password.decode("utf-8", "replace")
        return hmac.compare_digest(digest, _digest(cfg.salt, password))


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = DEFAULT_USER
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)

    def __post_init__(self) -> None:
        if not self.username or ":" in self.username:
            raise ValueError(f"username must be non-empty without ':', got {self.username!r}")
        if not self.password:
            raise ValueError("password must be non-empty")


class EmbeddedBroker:
    """amqtt in this process, on 127.0.0.1 (a free port unless one is given), with password auth."""

    name = "amqtt"

    def __init__(
        self, credentials: Credentials | None = None, port: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.credentials = credentials or Credentials()
        self.host = host
        self.port = port
        self._broker: Any = None

    async def start(self) -> BrokerAddress:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):  # amqtt logs every connect at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self.port = self.port or free_port(self.host)
        salt = secrets.token_hex(8)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 256}},
            "plugins": {
                f"{__name__}.PasswordAuth": {
                    "salt": salt,
                    "users": {self.credentials.username: _digest(salt, self.credentials.password)},
                }
            },
        }
        try:
            self._broker = Broker(config)
            await self._broker.start()
        except Exception as exc:
            raise BrokerError(f"embedded amqtt broker failed to start on {self.host}:{self.port}: {exc}") from exc
        return self.address

    @property
    def address(self) -> BrokerAddress:
        if self.port is None:
            raise BrokerError("embedded broker not started")
        return BrokerAddress(self.host, self.port, self.credentials.username, self.credentials.password)

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            with contextlib.suppress(Exception):
                await broker.shutdown()

    async def __aenter__(self) -> BrokerAddress:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class MosquittoBroker:
    """A private `mosquitto` process: own config, password file and port, in its own directory."""

    name = "mosquitto"

    def __init__(
        self,
        credentials: Credentials | None = None,
        port: int | None = None,
        workdir: Path | None = None,
        executable: str = "mosquitto",
        max_packet_bytes: int = 256 * 1024,
    ) -> None:
        self.credentials = credentials or Credentials()
        self.port = port
        self.executable = executable
        self.max_packet_bytes = max_packet_bytes
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="liveloop-mosquitto-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @staticmethod
    def available(executable: str = "mosquitto") -> bool:
        return shutil.which(executable) is not None or os.path.exists(f"/usr/sbin/{executable}")

    def _binary(self) -> str:
        found = shutil.which(self.executable) or (
            f"/usr/sbin/{self.executable}" if os.path.exists(f"/usr/sbin/{self.executable}") else None
        )
        if not found:
            raise BrokerError(f"mosquitto broker: {self.executable!r} not found (install Debian's `mosquitto` package)")
        return found

    def _write_config(self) -> Path:
        passwd = self.workdir / "passwd"
        if not passwd.exists():
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            c = self.credentials
            res = subprocess.run([tool, "-b", "-c", str(passwd), c.username, c.password], capture_output=True)
            if res.returncode != 0:
                raise BrokerError(f"mosquitto_passwd failed: {res.stderr.decode(errors='replace').strip()}")
            passwd.chmod(0o600)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous false",
                    f"password_file {passwd}",
                    "persistence false",
                    "set_tcp_nodelay true",  # small messages both ways: Nagle + delayed ACKs would add up to 40 ms
                    f"max_packet_size {self.max_packet_bytes}",
                    f"log_dest file {self.workdir / 'mosquitto.log'}",
                    "log_type error",
                    "log_type warning",
                    # started as root, mosquitto would switch to the `mosquitto` user, who cannot read
                    # this private directory; stay the user who started it
                    *([f"user {_user_name()}"] if os.geteuid() == 0 else []),
                    "",
                ]
            )
        )
        return conf

    async def start(self) -> BrokerAddress:
        """Start (or restart on the same port) and wait until it accepts connections."""
        if self._proc is not None and self._proc.poll() is None:
            return self.address
        binary = self._binary()
        self.port = self.port or free_port()
        conf = self._write_config()
        self._proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.starts += 1
        if not await wait_listening("127.0.0.1", self.port):
            err = b""
            if self._proc.poll() is not None and self._proc.stderr:
                err = self._proc.stderr.read()
            self.kill()
            raise BrokerError(
                f"mosquitto did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S} s: "
                f"{err.decode(errors='replace').strip() or 'no error output'}"
            )
        return self.address

    @property
    def address(self) -> BrokerAddress:
        if self.port is None:
            raise BrokerError("mosquitto broker not started")
        return BrokerAddress("127.0.0.1", self.port, self.credentials.username, self.credentials.password)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-run, like a crash."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=5)
        if proc is not None and proc.stderr:
            proc.stderr.close()

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    await asyncio.to_thread(proc.wait, 5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.stderr:
                proc.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> BrokerAddress:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
