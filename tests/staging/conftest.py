from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from accounts.accounts_helpers import RecordingNotifier, make_accounts
from fakeissuer import Clock
from stagingkit import FakeForwarder
from store.store_fixtures import database, pg_store, postgres, store

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.passwords import load_common
from service.defaults import COMMON_PASSWORDS
from service.staging.approve import Approvals
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.staging.proof import Confirmations
from service.store import SqlStore

__all__ = ["database", "pg_store", "postgres", "store"]


@pytest.fixture(scope="session")
def common() -> frozenset[str]:
    return load_common(COMMON_PASSWORDS)


@pytest.fixture
def notices() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def accounts(
    store: SqlStore, clock: Clock, common: frozenset[str], notices: RecordingNotifier
) -> Accounts:
    made = make_accounts(store, clock, common)
    made.deps = replace(made.deps, notifier=notices)
    return made


@pytest.fixture
def deps(accounts: Accounts) -> Deps:
    return accounts.deps


@pytest.fixture
def area(tmp_path: Path) -> FileStagingArea:
    return FileStagingArea(tmp_path / "staging")


@pytest.fixture
def forwarder() -> FakeForwarder:
    return FakeForwarder()


@pytest.fixture
def intake(
    store: SqlStore, area: FileStagingArea, clock: Clock, notices: RecordingNotifier
) -> Intake:
    return Intake(store, area, clock=clock, notifier=notices)


@pytest.fixture
def approvals(accounts: Accounts, area: FileStagingArea, forwarder: FakeForwarder) -> Approvals:
    return Approvals(accounts.deps, area, forwarder, Confirmations(accounts))
