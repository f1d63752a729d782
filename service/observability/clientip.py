"""Who is asking: the socket peer, or what a trusted reverse proxy says the peer was.

X-Forwarded-For is a list each proxy appends to, so everything left of the
entry our own proxy wrote is whatever the client chose to send. We walk it from
the right, skipping our proxies, and take the first address we do not trust:
the one our outermost proxy saw. A client can add entries to the left, never
remove the ones our proxies appended.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`MINTGATE_TRUSTED_PROXIES`: comma-separated addresses or CIDR networks."""
    networks = []
    for part in raw.split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    if not networks:
        raise ValueError("expected comma-separated IP addresses or CIDR networks")
    return tuple(networks)


class ClientAddress:
    def __init__(self, trusted: Iterable[Network] = ()) -> None:
        self._trusted = tuple(trusted)

    def is_trusted(self, address: str | None) -> bool:
        if not self._trusted or address is None:
            return False
        parsed = _parse(address)
        return parsed is not None and any(parsed in network for network in self._trusted)

    def of(self, scope: Scope) -> str:
        """The client's address for an ASGI scope ("unknown" when the server gives none)."""
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        if not self.is_trusted(peer):
            return peer
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.extend(value.decode("latin-1").split(","))
        for entry in reversed(forwarded):
            hop = entry.strip()
            if _parse(hop) is None:
                # Our proxy appends what it saw, so garbage here means it is misconfigured
                # or the garbage came from the client: fall back to the proxy itself.
                return peer
            if not self.is_trusted(hop):
                return hop
        # Every hop is one of ours (or there is no header): the left-most is the nearest
        # we know of the client.
        return forwarded[0].strip() if forwarded else peer


def _parse(address: str) -> Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def limit_key(address: str) -> str:
    """The unit a per-address limit counts: one IPv4 address, or an IPv6 /64.

    An IPv6 customer is usually handed a whole /64; counting single addresses
    would give them 2**64 fresh budgets.
    """
    if ":" not in address:  # IPv4 (or "unknown"): counted as it is, without parsing
        return address
    parsed = _parse(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address
