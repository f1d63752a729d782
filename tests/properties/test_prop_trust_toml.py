"""TOML configuration never fails with anything but its documented errors.

`load_trust` raises `TrustConfigError`, `load_issuers` raises `IssuerConfigError`,
and each provider's `from_table` raises `publishers.base.ConfigError`: the
messages `mintgate check` prints and start-up stops on. Any other exception
would be a traceback at start-up instead of a sentence naming the file, table
and key. Documents are written as real TOML and read back by the loaders.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST, toml_document, toml_keys, toml_scalars

from service.issuers import IssuerConfigError, Issuers, load_issuers
from service.publishers import PROVIDERS
from service.publishers.base import ConfigError
from service.trust.toml import TomlTrustStore, TrustConfigError, load_trust

DATA = Path(__file__).parent.parent / "data"
T = TypeVar("T")
E = TypeVar("E", bound=Exception)

# Keys and values the loaders look for, so generated tables get past the first check.
KEYS = sorted(
    {
        "project", "publisher", "provider", "issuer", "repository", "repository_owner_id",
        "workflow", "environment", "refs", "allow_events", "reusable_workflows", "ref", "sha",
        "namespace",
        "ci_config_file", "namespace_id", "project_id", "lookup", "required", "claims",
        "provenance", "claim", "exact", "casefold", "glob", "pinned_id", "equals_bool",
        "includes", "email", "sub", "org_id",
    }
)  # fmt: skip
WORDS = sorted(
    {
        *PROVIDERS, "https://token.actions.githubusercontent.com", "https://gitlab.com",
        "https://gitlab.example.com", "https://accounts.google.com", "octo-org/sampleproject",
        "octo-org/shared/.github/workflows/publish.yml", "release.yml", "refs/tags/v*",
        "refs/*", "*", "pypi", "1234567", "0", "a" * 40, "pull_request_target", "workflow_run",
        "octo-group", "octo-group/sub", "sampleproject", ".gitlab-ci.yml", "../x.yml",
        "repository", "project_path", "sub", "sha", "{org_id}", "x@y.z",
    }
)  # fmt: skip

keys = st.sampled_from(KEYS) | toml_keys
scalars = st.sampled_from(WORDS) | toml_scalars.filter(lambda v: v == v)  # no NaN: see roundtrip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=10,
)
tables = st.dictionaries(keys, values, max_size=7)
publisher_tables = st.fixed_dictionaries(
    {"provider": st.sampled_from(sorted(PROVIDERS)) | scalars}, optional={}
).flatmap(lambda head: tables.map(lambda rest: {**head, **rest}))
project_names = st.sampled_from(["sampleproject", "Sample_Plugin", "x", "-bad-", ""]) | toml_keys
trust_documents = st.fixed_dictionaries(
    {
        "project": st.dictionaries(
            project_names,
            st.fixed_dictionaries(
                {"publisher": st.lists(publisher_tables | values, min_size=1, max_size=3)}
            )
            | values,
            max_size=3,
        )
    }
) | st.dictionaries(st.just("project") | keys, values, max_size=3)
issuer_documents = st.fixed_dictionaries(
    {"issuer": st.lists(tables | values, max_size=3)}
) | st.dictionaries(st.just("issuer") | keys, values, max_size=3)


@pytest.fixture(scope="module")
def issuers() -> Issuers:
    return load_issuers(DATA / "issuers.toml", audience="mintgate", leeway=30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toml")


def write(path: Path, document: dict[str, Any]) -> Path:
    text = toml_document(document)
    assert tomllib.loads(text) == document  # the file says exactly what was generated
    path.write_text(text, encoding="utf-8")
    return path


@FAST
@given(trust_documents)
# Found by this test: `mintgate check` prints a traceback (AttributeError), exit 1, not 2.
@example({"project": {"sampleproject": {"publisher": ["*"]}}})
def test_publisher_files_load_or_raise_trust_config_error(
    workdir: Path, issuers: Issuers, document: dict[str, Any]
) -> None:
    path = write(workdir / "publishers.toml", document)
    outcome = outcome_of(lambda: load_trust(path, issuers), Exception)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, TrustConfigError), repr(outcome)
        assert str(outcome).startswith(str(path))  # names the file
    else:
        assert isinstance(outcome, TomlTrustStore)


@FAST
@given(issuer_documents)
# Found by this test: TypeError and AttributeError escape `mintgate check` as tracebacks.
@example({"issuer": [False]})
@example({"issuer": [[]]})
def test_issuer_files_load_or_raise_issuer_config_error(
    workdir: Path, document: dict[str, Any]
) -> None:
    path = write(workdir / "issuers.toml", document)
    outcome = outcome_of(lambda: load_issuers(path, audience="mintgate", leeway=30), Exception)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, IssuerConfigError), repr(outcome)
        assert str(outcome).startswith(str(path))
    else:
        assert isinstance(outcome, Issuers)


@FAST
@given(st.sampled_from(sorted(PROVIDERS)), tables)
def test_every_provider_builds_a_publisher_or_raises_config_error(
    provider: str, table: dict[str, Any]
) -> None:
    module = PROVIDERS[provider]
    issuer = module.DEFAULT_ISSUER or "https://ci.example.com"
    outcome = outcome_of(lambda: module.from_table(table, issuer=issuer), Exception)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, ConfigError), repr(outcome)
        assert str(outcome).startswith(f"{outcome.key}: ")  # names the key (which may be "")


def outcome_of(load: Callable[[], T], documented: type[E]) -> T | E:
    """What `load` returned, or what it raised: the test then says which error it was."""
    try:
        return load()
    except documented as exc:
        return exc
