"""What an owner adds through the API is what mints, on the default configuration (issue 19).

No MINTGATE_TRUST_SOURCE, no publishers file: the database is the one model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api, app_for, codes
from fakeissuer import Clock, FakeIssuer, github_claims
from test_api_publishing import GITHUB, PUBLISHERS, owner

from service.store import SqlStore

pytestmark = pytest.mark.anyio


async def test_a_publisher_added_through_the_api_mints_and_stops_when_removed(
    store: SqlStore, clock: Clock, tmp_path: Path, github: FakeIssuer, issuers_mock: Any
) -> None:
    app = app_for(store, clock, tmp_path)
    async with app.router.lifespan_context(app), Api.over(app, clock) as api:
        before = await api.http.post(
            "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
        )
        assert (before.status_code, codes(before)) == (422, ["invalid-publisher"])

        alice = await owner(api)
        added = await api.post(PUBLISHERS, alice.session, GITHUB)
        assert added.status_code == 201, added.text
        await app.state.trust_index.caught_up()
        minted = await api.http.post(
            "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
        )
        assert minted.status_code == 200, minted.text

        removed = await api.delete(f"{PUBLISHERS}/{added.json()['id']}", alice.session)
        assert removed.status_code == 200
        await app.state.trust_index.caught_up()
        after = await api.http.post(
            "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
        )
        assert (after.status_code, codes(after)) == (422, ["invalid-publisher"])
