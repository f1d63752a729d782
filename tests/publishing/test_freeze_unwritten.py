"""A freeze revokes tokens whose records are still in the mint journal, not yet in SQL.

With the journal, a mint's record reaches minted_tokens about half a second after
its token was answered, or much later when SQL was down or the replica that
minted died before writing it; and other replicas mint for up to the trust
index's bound after the freeze commits. Attacker: a compromised workflow that
mints just before (or while) an owner freezes its publisher, so that its token
outlives the freeze. Here no drainer runs: every record stays in the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from fakeissuer import NOW
from publishingkit import trust
from starlette.routing import Mount

from service.accounts import incident
from service.accounts.core import Context, Deps
from service.accounts.incident import Frozen, operator_freeze, revoke_minted
from service.app import Overrides, create_app
from service.issuers import Issuers
from service.minting.tokens import Planned
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.revocation import MemoryRevocationStore, RevocationUnavailable
from service.settings import Settings
from service.store import SqlStore
from service.store.records_publishing import MintedTokenRecord
from service.trust import Trusted
from service.trust.journal import RedisMintJournal, journal_key
from service.trust.sql import SqlTrustStore
from service.trust.unwritten import UnwrittenMints

pytestmark = pytest.mark.anyio

ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY = "octo-org/sampleproject"
OPERATOR = Context(actor="operator:test")
DATA = Path(__file__).parent.parent / "data"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


ALL: dict[str, Any] = {
    "publisher_id": None,
    "repository": None,
    "unexpired_at": at(NOW),
    "since": None,
    "until": None,
}


@pytest.fixture
async def key(redis: aioredis.Redis) -> AsyncIterator[str]:
    name = f"mintgate:mint-journal:test-{uuid.uuid4().hex[:8]}"
    yield name
    await redis.delete(name, f"{name}:rejected")


async def publishers(store: SqlStore, issuers: Issuers, project: str) -> list[Trusted]:
    """The project trusts octo-org/sampleproject's workflow: its one publisher."""
    await trust(store, issuers, project)
    found = await SqlTrustStore(store, issuers).publishers_for(ISSUER, REPOSITORY)
    return [t for t in found if t.project == project]


async def minted(journal: RedisMintJournal, used: list[Trusted], jti: str) -> None:
    """A mint answered: its record is in the stream (and held; no drainer runs here)."""
    projects = tuple(t.project for t in used)
    plan = Planned({}, expires=NOW + 900, jti=jti, projects=projects, issued=NOW)
    claimed = await journal.consume(
        ISSUER, f"{journal.key}/oidc-{jti}", until=NOW + 600, claims={}, used=used, minted=plan
    )
    assert claimed


@dataclass
class Scene:
    """One trusted publisher, the journal its mints are recorded in, and a revocation store."""

    redis: aioredis.Redis
    key: str
    publisher: Trusted
    journal: RedisMintJournal
    revocations: MemoryRevocationStore
    deps: Deps

    async def mint(self, jti: str) -> None:
        await minted(self.journal, [self.publisher], jti)

    async def freeze(self, unwritten: incident.UnwrittenMints | None = None) -> Frozen | Refusal:
        assert self.publisher.ref is not None
        return await operator_freeze(
            self.deps, OPERATOR, self.revocations, self.publisher.ref, unwritten=unwritten
        )


@pytest.fixture
async def scene(redis: aioredis.Redis, store: SqlStore, issuers: Issuers, key: str) -> Scene:
    (publisher,) = await publishers(store, issuers, "sampleproject")
    journal = RedisMintJournal(redis, store, key=key, clock=lambda: NOW)
    revocations = MemoryRevocationStore(clock=lambda: NOW)
    return Scene(redis, key, publisher, journal, revocations, Deps(store, clock=lambda: NOW))


async def test_a_freeze_revokes_what_waits_in_the_journal_and_what_mints_until_it_settles(
    scene: Scene,
) -> None:
    await scene.mint("before")

    async def another_replica_mints_before_it_sees_the_freeze(seconds: float) -> None:
        await scene.mint("during")

    waits = another_replica_mints_before_it_sees_the_freeze
    frozen = await scene.freeze(UnwrittenMints(scene.redis, scene.key, sleep=waits))

    assert isinstance(frozen, Frozen), frozen
    assert frozen.revoked == 2
    assert await scene.revocations.is_revoked("before")
    assert await scene.revocations.is_revoked("during")


async def test_without_the_journal_those_tokens_would_outlive_the_freeze(scene: Scene) -> None:
    # What the test above guards: minted_tokens alone does not hold them yet.
    await scene.mint("unwritten")
    frozen = await scene.freeze()
    assert isinstance(frozen, Frozen)
    assert frozen.revoked == 0
    assert not await scene.revocations.is_revoked("unwritten")


async def test_the_journal_is_read_by_publisher_and_repository_and_skips_what_does_not_parse(
    scene: Scene, store: SqlStore, issuers: Issuers
) -> None:
    (other,) = await publishers(store, issuers, "otherproject")
    await scene.mint("ours")
    await minted(scene.journal, [other], "theirs")
    await scene.redis.xadd(scene.key, {b"e": b"not a record"})
    unwritten = UnwrittenMints(scene.redis, scene.key)
    ref = scene.publisher.ref

    def asked(**query: Any) -> Any:
        # minted_tokens' question: unexpired now, any issue time, unless the query says
        return unwritten.minted(**{**ALL, **query})

    ours = await asked(publisher_id=ref, repository=None)
    both = await asked(publisher_id=None, repository=REPOSITORY)
    neither = await asked(publisher_id=ref, repository="octo-org/elsewhere")
    expired = await asked(publisher_id=ref, unexpired_at=at(NOW + 900))
    too_late = await asked(publisher_id=ref, since=at(NOW + 1))

    assert [(t.jti, t.publisher_id, t.project) for t in ours] == [("ours", ref, "sampleproject")]
    assert sorted(t.jti for t in both) == ["ours", "theirs"]
    assert neither == []
    assert expired == too_late == []


async def test_revoke_minted_reads_the_journal_too(scene: Scene) -> None:
    await scene.mint("unwritten")
    revoked = await revoke_minted(
        scene.deps,
        OPERATOR,
        scene.revocations,
        repository=REPOSITORY,
        unwritten=UnwrittenMints(scene.redis, scene.key),
    )
    assert revoked == 1
    assert await scene.revocations.is_revoked("unwritten")


class DownJournal:
    async def settle(self) -> None:
        pass

    async def minted(self, **query: Any) -> list[MintedTokenRecord]:
        raise RevocationUnavailable("redis: ConnectionError")


async def test_a_journal_that_cannot_be_read_is_a_503_not_a_partial_answer(scene: Scene) -> None:
    frozen = await scene.freeze(DownJournal())
    assert isinstance(frozen, Refusal)
    assert frozen.code == SERVICE_UNAVAILABLE


async def test_the_app_hands_its_journal_to_the_freeze_of_the_api_and_the_pages(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'mintgate.sqlite3'}"
    settings = Settings(
        issuers_file=DATA / "issuers.toml", publishers_file=DATA / "publishers.toml",
        database_url=database,
    )  # fmt: skip
    app = create_app(settings, Overrides(redis=redis))
    async with app.router.lifespan_context(app):
        (api,) = [
            r.app.state.api for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"
        ]
    assert isinstance(api.unwritten, UnwrittenMints)
    assert api.unwritten.key == journal_key(database)
