"""Admission: take a new session only while the sessions already here are kept up with.

A session past what the machine can serve does not fail on its own: every
session's listening falls behind real time together (the ASR chunks queue, the
mic door's drop-oldest buffer fills and, ten seconds in, starts to lose audio).
`benchmarks/asr_overload.py` measured it: six recognizers at once hold their
latency on two cores, ten are 1.4 s behind and fourteen 48 s. So a fixed
`max_sessions` alone is either too low for a big machine or too high for a
laptop. The server also refuses a new session while any live one listens more
than `max_lag_ms` behind real time, and for `hold_s` after it last did: the
lag of a session that is caught up is about one ASR chunk.

Sans-I/O: the app's sampler calls `observe(now_ns, lag_ns, session)` a few times
a second with the worst live session's lag (`VoiceSession.hearing_lag_ns`);
each offer or WebSocket upgrade asks `verdict(now_ns, live)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from liveloop.graph.clock import NS_PER_MS, NS_PER_S


class Refusal(enum.Enum):
    SESSION_LIMIT = "session_limit"
    BEHIND = "behind"


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    max_sessions: int = 16
    max_lag_ms: float | None = 750.0  # None: admit on the session count alone (benchmarks/admission.py)
    hold_s: float = 10.0  # keep refusing this long after a session was last seen behind
    sample_s: float = 0.25  # how often the app samples the live sessions' lag

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {self.max_sessions}")
        if self.max_lag_ms is not None and self.max_lag_ms <= 0:
            raise ValueError(f"max_lag_ms must be > 0 (or None to turn the check off), got {self.max_lag_ms}")
        if self.hold_s < 0:
            raise ValueError(f"hold_s must be >= 0, got {self.hold_s}")
        if self.sample_s <= 0:
            raise ValueError(f"sample_s must be > 0, got {self.sample_s}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a new session is refused; `retry_after_s` is what the HTTP reply's Retry-After says."""

    refusal: Refusal
    message: str
    retry_after_s: int

    def to_json(self) -> dict[str, str]:
        return {"type": "error", "code": "busy", "reason": self.refusal.value, "message": self.message}


class Admission:
    """Decides, from the lag it has been shown, whether one more session may start."""

    def __init__(self, config: AdmissionConfig | None = None) -> None:
        self.config = config or AdmissionConfig()
        self.lag_ns = 0  # the latest sample: the worst live session's lag
        self.worst_session: int | None = None
        self._behind_until_ns: int | None = None
        self._behind_lag_ns = 0
        self._behind_session: int | None = None
        self.refused: dict[Refusal, int] = dict.fromkeys(Refusal, 0)

    def observe(self, now_ns: int, lag_ns: int, session: int | None = None) -> None:
        """The worst live session's lag now (`session` names it, for the message)."""
        self.lag_ns, self.worst_session = lag_ns, session
        limit = self.config.max_lag_ms
        if limit is not None and lag_ns > limit * NS_PER_MS:
            self._behind_until_ns = now_ns + int(self.config.hold_s * NS_PER_S)
            self._behind_lag_ns, self._behind_session = lag_ns, session

    def behind(self, now_ns: int) -> bool:
        return self._behind_until_ns is not None and now_ns < self._behind_until_ns

    def verdict(self, now_ns: int, live: int) -> Verdict | None:
        """None: admit. Otherwise why not (and it is counted)."""
        cfg = self.config
        v: Verdict | None = None
        if live >= cfg.max_sessions:
            v = Verdict(Refusal.SESSION_LIMIT, f"too many sessions ({live} of at most {cfg.max_sessions})", 5)
        elif self.behind(now_ns):
            assert self._behind_until_ns is not None
            who = f"session {self._behind_session}" if self._behind_session is not None else "a session"
            left_s = (self._behind_until_ns - now_ns) / NS_PER_S
            v = Verdict(
                Refusal.BEHIND,
                f"the server is at capacity: {who} listened {self._behind_lag_ns / NS_PER_S:.1f} s behind real "
                f"time (limit {(cfg.max_lag_ms or 0) / 1000:g} s) in the last {cfg.hold_s:g} s",
                max(1, round(left_s)),
            )
        if v is not None:
            self.refused[v.refusal] += 1
        return v
