"""Every provider, not only GitHub, is managed through the same API: publishers and pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import DATA, Api, ApiFactory, User
from providerclaims import (
    ACTIVESTATE,
    ACTIVESTATE_TABLE,
    BUILDKITE,
    BUILDKITE_TABLE,
    GOOGLE,
    GOOGLE_TABLE,
)

pytestmark = pytest.mark.anyio

ISSUERS = f"""
[[issuer]]
url = "{GOOGLE}"
provider = "google"
jwks_hosts = ["www.googleapis.com"]

[[issuer]]
url = "{ACTIVESTATE}"
provider = "activestate"

[[issuer]]
url = "{BUILDKITE}"
provider = "buildkite"
"""

TABLES: list[tuple[str, dict[str, Any]]] = [
    ("google", GOOGLE_TABLE),
    ("activestate", ACTIVESTATE_TABLE),
    ("buildkite", BUILDKITE_TABLE),
]


@pytest.mark.parametrize(("provider", "table"), TABLES, ids=[p for p, _ in TABLES])
async def test_a_provider_publisher_is_added_and_a_pending_one_registered(
    make_api: ApiFactory, tmp_path: Path, provider: str, table: dict[str, Any]
) -> None:
    issuers = tmp_path / "issuers.toml"
    # The shipped test issuers (the publishers file names them) plus these providers'.
    issuers.write_text((DATA / "issuers.toml").read_text() + ISSUERS)
    async with make_api(issuers_file=issuers) as api:
        alice = await owned(api)
        body = {"provider": provider, **table}
        added = await api.post("/projects/sampleproject/publishers", alice.session, body)
        assert added.status_code == 201, added.text
        assert added.json()["provider"] == provider
        pending = await api.post(
            "/pending-publishers", alice.session, {"project": "brand-new", "publisher": body}
        )
        assert pending.status_code == 201, pending.text
        wrong = await api.post(
            "/projects/sampleproject/publishers",
            alice.session,
            {"provider": provider, **table, "unexpected": "x"},
        )
        assert wrong.status_code == 400, wrong.text
        assert "unexpected" in wrong.text


async def owned(api: Api) -> User:
    alice = await api.user("alice", two_factor=True)
    created = await api.post("/projects", alice.session, {"name": "sampleproject"})
    assert created.status_code == 201, created.text
    return alice
