from __future__ import annotations

from dataclasses import replace

import pytest
from accounts_helpers import RecordingNotifier, make_accounts
from fakeissuer import Clock
from store.store_fixtures import database, pg_store, postgres, store

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.passwords import load_common
from service.defaults import COMMON_PASSWORDS
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
    """The service functions' dependencies, sharing the accounts' store and clock."""
    accounts.deps = replace(accounts.deps, notifier=notices)
    return accounts.deps
