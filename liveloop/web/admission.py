"""Admission: take a new session only while the sessions already here are kept up with.

A session past what the machine can serve does not fail on its own: every
session's listening falls behind real time together (the audio waits in the
graph's queues, then in the mic door's drop-oldest buffer and the sockets), and
answers come seconds late or are dropped because the user spoke again first.
`benchmarks/asr_overload.py` measured it: six recognizers at once hold their
latency on two cores, ten are 1.4 s behind and fourteen 48 s. So a fixed
`max_sessions` alone is either too low for a big machine or too high for a
laptop. Admission also watches how far behind real time the live sessions
listen (an unloaded session: under ~100 ms):

- **behind**: refuse while a live session is more than `max_lag_ms` behind, and
  for `hold_s` after it last was;
- **capacity**: when the lag crosses the limit with N sessions live and stays
  over it for `confirm_s` (not a one-off stall such as a first model call), N
  was too many: refuse from N - 1 on (sessions that are in stay). Every `probe_s` without
  another crossing the learned cap rises by one, so a machine that got faster
  (or quieter users) is found again. Without it the door reopens after the hold
  and lets the same overload in again (`benchmarks/admission.py`).

Sans-I/O: the app's sampler calls `observe(now_ns, lag_ns, session, live)` a few
times a second with the worst live session's lag (`VoiceSession.hearing_lag_ns`)
and the number of live sessions; each offer or WebSocket upgrade asks
`verdict(now_ns, live)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from liveloop.graph.clock import NS_PER_MS, NS_PER_S


class Refusal(enum.Enum):
    SESSION_LIMIT = "session_limit"
    BEHIND = "behind"
    CAPACITY = "capacity"


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    max_sessions: int = 16
    max_lag_ms: float | None = 750.0  # None: admit on the session count alone (benchmarks/admission.py)
    hold_s: float = 10.0  # keep refusing this long after a session was last seen behind
    probe_s: float | None = 60.0  # raise a learned cap by one after this long without a crossing (None: no cap)
    confirm_s: float = 2.0  # a crossing teaches a cap only when the lag stays over the limit this long
    sample_s: float = 0.25  # how often the app samples the live sessions' lag

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {self.max_sessions}")
        if self.max_lag_ms is not None and self.max_lag_ms <= 0:
            raise ValueError(f"max_lag_ms must be > 0 (or None to turn the check off), got {self.max_lag_ms}")
        if self.hold_s < 0:
            raise ValueError(f"hold_s must be >= 0, got {self.hold_s}")
        if self.probe_s is not None and self.probe_s <= 0:
            raise ValueError(f"probe_s must be > 0 (or None to learn no cap), got {self.probe_s}")
        if self.confirm_s < 0:
            raise ValueError(f"confirm_s must be >= 0, got {self.confirm_s}")
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
        self.cap: int | None = None  # the learned capacity (sessions), None until the lag first crosses
        self._over_since_ns: int | None = None  # when the lag went over the limit (None: it is not)
        self._over_live = 0  # live sessions then
        self._learned = False  # this crossing has taught the cap already
        self._behind_until_ns: int | None = None
        self._behind_lag_ns = 0
        self._behind_session: int | None = None
        self._crossed_live = 0
        self._crossed_session: int | None = None
        self._raised_ns = 0  # the last crossing or rise of the cap
        self.refused: dict[Refusal, int] = dict.fromkeys(Refusal, 0)

    def observe(self, now_ns: int, lag_ns: int, session: int | None = None, live: int = 0) -> None:
        """The worst live session's lag now (`session` names it, for the message) with `live` sessions."""
        cfg = self.config
        self.lag_ns = lag_ns
        over = cfg.max_lag_ms is not None and lag_ns > cfg.max_lag_ms * NS_PER_MS
        if not over:
            self._over_since_ns = None
            self._probe(now_ns)
            return
        self._behind_until_ns = now_ns + int(cfg.hold_s * NS_PER_S)
        self._behind_lag_ns, self._behind_session = lag_ns, session
        if self._over_since_ns is None:
            self._over_since_ns, self._over_live, self._learned = now_ns, live, False
        confirmed = now_ns - self._over_since_ns >= cfg.confirm_s * NS_PER_S
        if confirmed and not self._learned and cfg.probe_s is not None and self._over_live > 0:
            n = self._over_live
            self.cap = max(1, min(n - 1, self.cap if self.cap is not None else n))
            self._crossed_live, self._crossed_session, self._raised_ns, self._learned = n, session, now_ns, True

    def _probe(self, now_ns: int) -> None:
        """A learned cap rises by one every `probe_s` without a crossing (up to `max_sessions`: no cap)."""
        cap, probe_s = self.cap, self.config.probe_s
        if cap is None or probe_s is None or now_ns - self._raised_ns < probe_s * NS_PER_S:
            return
        self.cap = cap + 1 if cap + 1 < self.config.max_sessions else None
        self._raised_ns = now_ns

    def behind(self, now_ns: int) -> bool:
        return self._behind_until_ns is not None and now_ns < self._behind_until_ns

    def verdict(self, now_ns: int, live: int) -> Verdict | None:
        """None: admit. Otherwise why not (and it is counted)."""
        cfg = self.config
        v: Verdict | None = None
        limit_s = (cfg.max_lag_ms or 0) / 1000
        if live >= cfg.max_sessions:
            v = Verdict(Refusal.SESSION_LIMIT, f"too many sessions ({live} of at most {cfg.max_sessions})", 5)
        elif self.behind(now_ns):
            assert self._behind_until_ns is not None
            left_s = (self._behind_until_ns - now_ns) / NS_PER_S
            v = Verdict(
                Refusal.BEHIND,
                f"the server is at capacity: {_who(self._behind_session)} listened "
                f"{self._behind_lag_ns / NS_PER_S:.1f} s behind real time (limit {limit_s:g} s) "
                f"in the last {cfg.hold_s:g} s",
                max(1, round(left_s)),
            )
        elif self.cap is not None and live >= self.cap:
            v = Verdict(
                Refusal.CAPACITY,
                f"the server keeps up with {self.cap} sessions here: with {self._crossed_live}, "
                f"{_who(self._crossed_session)} listened more than {limit_s:g} s behind real time",
                30,
            )
        if v is not None:
            self.refused[v.refusal] += 1
        return v


def _who(session: int | None) -> str:
    return f"session {session}" if session is not None else "a session"
