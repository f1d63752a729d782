"""Which address is the client: one row per proxy arrangement and per spoofing attempt."""

from __future__ import annotations

import pytest

from service.observability.clientip import ClientAddress, limit_key, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.10, fd00::/8")


def scope(peer: str | None, *forwarded: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 4711) if peer else None, "headers": headers}


# (id, trusted proxies, socket peer, X-Forwarded-For headers, the client we must count)
CASES = [
    ("no-proxy-configured", "", "203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
    ("peer-not-a-proxy", PROXIES, "203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
    ("one-proxy", PROXIES, "10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
    ("two-proxies", PROXIES, "10.1.2.3", ["198.51.100.1, 192.0.2.10"], "198.51.100.1"),
    (
        "client-prepends-lies",
        PROXIES,
        "10.1.2.3",
        ["1.1.1.1, 10.9.9.9, 198.51.100.1"],
        "198.51.100.1",
    ),
    ("split-headers", PROXIES, "10.1.2.3", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),
    ("garbage-hop", PROXIES, "10.1.2.3", ["198.51.100.1, <script>"], "10.1.2.3"),
    ("only-proxies", PROXIES, "10.1.2.3", ["10.4.4.4, 192.0.2.10"], "10.4.4.4"),
    ("proxy-without-header", PROXIES, "10.1.2.3", [], "10.1.2.3"),
    ("ipv6-proxy", PROXIES, "fd00::1", ["2001:db8::7"], "2001:db8::7"),
    ("no-peer", PROXIES, None, ["198.51.100.1"], "unknown"),
]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_client_is_the_right_most_untrusted_hop(
    trusted: object, peer: str | None, forwarded: list[str], client: str
) -> None:
    addresses = ClientAddress(trusted or ())  # type: ignore[arg-type]
    assert addresses.of(scope(peer, *forwarded)) == client


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("unknown", "unknown"),
    ],
    ids=["ipv4", "ipv6-slash-64", "ipv4-mapped", "no-address"],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_slash_64(address: str, key: str) -> None:
    assert limit_key(address) == key


@pytest.mark.parametrize("raw", [" , ", "10.0.0.0/33", "proxy.example"], ids=repr)
def test_bad_trusted_proxies_stop_start_up(raw: str) -> None:
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MINTGATE_TRUSTED_PROXIES"):
        Settings.from_env({"MINTGATE_TRUSTED_PROXIES": raw})
