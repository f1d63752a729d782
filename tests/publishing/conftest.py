from __future__ import annotations

from dataclasses import replace

import pytest
from accounts.accounts_helpers import RecordingNotifier, make_accounts
from fakeissuer import Clock
from store.store_fixtures import database, pg_store, postgres, store

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.passwords import load_common
from service.apitokens.keys import RootKey, generate_pem, load_root_key
from service.defaults import COMMON_PASSWORDS
from service.issuers import Issuers, load_issuers
from service.store import SqlStore

__all__ = ["database", "pg_store", "postgres", "store"]


@pytest.fixture(scope="session")
def common() -> frozenset[str]:
    return load_common(COMMON_PASSWORDS)


@pytest.fixture
def accounts(store: SqlStore, clock: Clock, common: frozenset[str]) -> Accounts:
    return make_accounts(store, clock, common)


@pytest.fixture
def notices() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def deps(accounts: Accounts, notices: RecordingNotifier) -> Deps:
    accounts.deps = replace(accounts.deps, notifier=notices)
    return accounts.deps


@pytest.fixture(scope="session")
def issuers() -> Issuers:
    from publishingkit import DATA

    return load_issuers(DATA / "issuers.toml", audience="mintgate", leeway=30)


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> RootKey:
    path = tmp_path_factory.mktemp("keys") / "api-token-key.pem"
    path.write_bytes(generate_pem())
    return load_root_key(path)
