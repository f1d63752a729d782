"""The defaults that ship in the package, and the examples in the repository that copy them.

The service runs on service/defaults/ when no MINTGATE_*_FILE is set, so a wheel installed
anywhere starts; config/ and the Kubernetes ConfigMap are examples an operator edits. Where an
example is meant to say the same as a default, this keeps them from drifting apart.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from deployfiles import ROOT, one

import service
from service.accounts.passwords import MIN_LENGTH, load_common
from service.defaults import COMMON_PASSWORDS, ISSUERS, PUBLISHERS
from service.issuers import load_issuers
from service.settings import Settings
from service.trust.toml import load_trust

PACKAGE = Path(service.__file__).resolve().parent


# Copies of the packaged issuers: what an operator starts editing from.
ISSUER_COPIES = {
    "config/issuers.toml": lambda: (ROOT / "config" / "issuers.toml").read_text(encoding="utf-8"),
    "kubernetes-configmap": lambda: one("ConfigMap", "mintgate-config")["data"]["issuers.toml"],
}


@pytest.mark.parametrize("copy", ISSUER_COPIES.values(), ids=ISSUER_COPIES.keys())
def test_issuer_examples_accept_exactly_the_packaged_default_issuers(copy: Any) -> None:
    # Comments aside (config/ lists every other provider, commented out), the same tables.
    assert tomllib.loads(copy()) == tomllib.loads(ISSUERS.read_text(encoding="utf-8"))


def test_settings_default_to_the_files_inside_the_package() -> None:
    settings = Settings.from_env({})
    # Publishers live in the database by default: no file is read unless one is named
    # (the packaged empty one is what the file-only source trusts then).
    assert (settings.trust_source, settings.publishers_file) == ("database", None)
    defaults = {
        "issuers_file": (settings.issuers_file, ISSUERS),
        "common_passwords_file": (settings.common_passwords_file, COMMON_PASSWORDS),
    }
    for name, (path, packaged) in defaults.items():
        assert path == packaged, name
        assert path.is_file(), name
        # Inside the package, not beside it: only the package is in the wheel.
        assert path.resolve().is_relative_to(PACKAGE / "defaults"), f"{name}: {path}"


def test_default_issuers_are_github_and_gitlab_com() -> None:
    issuers = load_issuers(ISSUERS, audience="mintgate", leeway=30)
    assert {url: issuer.provider for url, issuer in issuers.items()} == {
        "https://token.actions.githubusercontent.com": "github",
        "https://gitlab.com": "gitlab",
    }


def test_default_publishers_trust_nobody() -> None:
    # Fail closed: an install that forgot MINTGATE_PUBLISHERS_FILE mints for no project,
    # rather than for the example's octo-org/sampleproject.
    issuers = load_issuers(ISSUERS, audience="mintgate", leeway=30)
    assert len(load_trust(PUBLISHERS, issuers)) == 0


def test_default_common_passwords_are_the_full_list() -> None:
    common = load_common(COMMON_PASSWORDS)
    assert len(common) == 10_000
    assert "password" in common
    assert all(len(word) >= MIN_LENGTH for word in common)
