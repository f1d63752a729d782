from __future__ import annotations

import pytest
from apitokenkit import State

from service.apitokens.keys import RootKey, configured_root_key, generate_pem, load_root_key


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> RootKey:
    # From a PEM file, as in production; the ephemeral path is tested on its own.
    path = tmp_path_factory.mktemp("keys") / "api-token-key.pem"
    path.write_bytes(generate_pem())
    return load_root_key(path)


@pytest.fixture
def other_root(tmp_path_factory: pytest.TempPathFactory) -> RootKey:
    path = tmp_path_factory.mktemp("keys") / "other.pem"
    path.write_bytes(generate_pem())
    return configured_root_key(path)


@pytest.fixture
def state() -> State:
    return State()
