"""ICE on machines with only loopback.

aioice gathers host candidates from every interface except 127.0.0.1, so two
peers on a machine whose only interface is loopback (a CI container) never
connect. `enable_loopback_candidates` wraps aioice's address lookup so that it
also returns 127.0.0.1. It is idempotent and process-wide (aioice looks the
function up at gather time), and it only ever adds an address.
"""

from __future__ import annotations

from collections.abc import Callable

import aioice.ice

_LOOPBACK = "127.0.0.1"
_ORIGINAL: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = list(_ORIGINAL(use_ipv4, use_ipv6))
    if use_ipv4 and _LOOPBACK not in addresses:
        addresses.append(_LOOPBACK)
    return addresses


def enable_loopback_candidates() -> None:
    """Make aioice offer 127.0.0.1 as a host candidate too."""
    aioice.ice.get_host_addresses = _with_loopback


def loopback_candidates_enabled() -> bool:
    return aioice.ice.get_host_addresses is _with_loopback
