"""Presets: providers shipped as rule templates, and how issuers and trust load them."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from service.issuers import IssuerConfigError, load_issuers
from service.publishers import PROVIDERS, base
from service.publishers.preset import Preset, PresetError, load_preset, load_presets
from service.trust.toml import TrustConfigError, load_trust

PRESETS = ("activestate", "buildkite", "circleci", "google", "semaphore")

DOCUMENT: dict[str, Any] = {
    "issuer": "https://ci.example.com",
    "lookup": "pipeline",
    "identity": "{org}/{pipeline}",
    "required": ["org", "pipeline"],
    "keys": {
        "org": {"required": True, "pattern": "[a-z]+"},
        "pipeline": {"required": True},
        "branches": {"list": True},
        "step": {},
    },
    "claims": [
        {"claim": "org", "exact": "{org}"},
        {"claim": "pipeline", "exact": "{pipeline}"},
        {"claim": "branch", "glob": "{branches}"},
        {"claim": "sub", "glob": "org:{org}:*"},
        {"claim": "step", "exact": "{step}"},
        {"claim": "runner", "exact": "hosted"},
    ],
}


def test_every_shipped_preset_is_a_provider() -> None:
    presets = load_presets()
    assert sorted(presets) == list(PRESETS)
    for name in PRESETS:
        assert isinstance(PROVIDERS[name], Preset)
        assert name == PROVIDERS[name].PROVIDER


def test_a_preset_fills_its_templates_and_drops_rules_of_absent_keys() -> None:
    preset = load_preset("example", DOCUMENT)
    p = preset.from_table({"org": "acme", "pipeline": "Release"}, issuer="https://ci.example.com")
    assert (p.identity, p.lookup_key) == ("example:acme/Release", "release")
    assert [r.claim for r in p.rules] == ["org", "pipeline", "sub", "runner"]
    claims = {"org": "acme", "pipeline": "Release", "sub": "org:acme:x", "runner": "hosted"}
    assert isinstance(p.verify(claims, now=0), base.Match)


def test_a_star_in_a_value_never_widens_a_template_glob() -> None:
    preset = load_preset(
        "example", {**DOCUMENT, "keys": {**DOCUMENT["keys"], "org": {"required": True}}}
    )
    with pytest.raises(base.ConfigError) as caught:
        preset.from_table({"org": "a*", "pipeline": "p"}, issuer="https://ci.example.com")
    assert caught.value.key == "org"


def broken(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    for key, value in changes.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (broken(lookup=None), "lookup"),
        (broken(lookup="step"), "lookup"),
        (broken(identity="{step}"), "identity"),
        (broken(issuer="https://{nope}.example.com"), "issuer"),
        (broken(keys=None), "keys"),
        (broken(claims=[{"claim": "x", "exact": "{undeclared}"}]), "claims[0]"),
        (broken(claims=[{"claim": "branch", "exact": "{branches}"}]), "claims[0]"),
        (broken(claims=[{"claim": "branch", "glob": "refs/{branches}"}]), "claims[0]"),
        (broken(claims=[{"claim": "x", "glob": "*"}]), "claims[0]"),
        (broken(keys={"Bad": {}}), "keys.Bad"),
        (broken(keys={"org": {"required": "yes"}}), "keys.org"),
        (broken(keys={"org": {"optional": True}}), "keys.org.optional"),
        (broken(extra=1), "extra"),
    ],
    ids=[
        "no-lookup",
        "lookup-of-optional-key",
        "identity-of-optional-key",
        "issuer-of-undeclared-key",
        "no-keys",
        "undeclared-key",
        "list-key-in-exact",
        "list-key-inside-a-pattern",
        "fixed-glob-matches-anything",
        "key-name-not-lowercase",
        "required-not-a-bool",
        "unknown-key-spec",
        "unknown-top-level-key",
    ],
)
def test_a_broken_preset_is_refused_naming_file_and_key(document: dict[str, Any], key: str) -> None:
    with pytest.raises(PresetError, match=rf"^presets/example\.toml: {re.escape(key)}: "):
        load_preset("example", document)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CUSTOM_ISSUER = """
[[issuer]]
url = "https://ci.example.com"
provider = "custom"
lookup = "repository"
"""

CUSTOM_PUBLISHER = """
[[project.sampleproject.publisher]]
provider = "custom"
issuer = "https://ci.example.com"
lookup = "{lookup}"
claims = [{{ claim = "{lookup}", exact = "octo/sampleproject" }}]
"""


def test_a_custom_issuer_names_its_lookup_claim(tmp_path: Path) -> None:
    issuers = load_issuers(write(tmp_path / "i.toml", CUSTOM_ISSUER), audience="a", leeway=0)
    assert issuers["https://ci.example.com"].lookup_claim == "repository"
    text = CUSTOM_PUBLISHER.format(lookup="repository")
    trust = load_trust(write(tmp_path / "p.toml", text), issuers)
    assert len(trust) == 1


def test_a_custom_publisher_must_use_its_issuers_lookup_claim(tmp_path: Path) -> None:
    issuers = load_issuers(write(tmp_path / "i.toml", CUSTOM_ISSUER), audience="a", leeway=0)
    text = CUSTOM_PUBLISHER.format(lookup="project")
    with pytest.raises(TrustConfigError, match="lookup: expected 'repository'"):
        load_trust(write(tmp_path / "p.toml", text), issuers)


def test_a_custom_issuer_without_lookup_stops_start_up(tmp_path: Path) -> None:
    text = CUSTOM_ISSUER.replace('lookup = "repository"\n', "")
    with pytest.raises(IssuerConfigError, match="lookup must be a non-empty string"):
        load_issuers(write(tmp_path / "i.toml", text), audience="a", leeway=0)


@pytest.mark.parametrize("provider", ["github", *PRESETS])
def test_a_provider_with_its_own_lookup_claim_refuses_another(
    tmp_path: Path, provider: str
) -> None:
    text = f'[[issuer]]\nurl = "https://x.example.com"\nprovider = "{provider}"\nlookup = "sub"\n'
    with pytest.raises(IssuerConfigError, match="lookup is fixed by provider"):
        load_issuers(write(tmp_path / "i.toml", text), audience="a", leeway=0)


@pytest.mark.parametrize("provider", PRESETS)
def test_each_preset_is_an_issuer_provider_with_its_lookup_claim(
    tmp_path: Path, provider: str
) -> None:
    text = f'[[issuer]]\nurl = "https://x.example.com"\nprovider = "{provider}"\n'
    issuers = load_issuers(write(tmp_path / "i.toml", text), audience="a", leeway=0)
    assert issuers["https://x.example.com"].lookup_claim == PROVIDERS[provider].LOOKUP_CLAIM


def test_a_preset_publisher_needs_its_issuer_configured(tmp_path: Path) -> None:
    github_only = (
        '[[issuer]]\nurl = "https://token.actions.githubusercontent.com"\nprovider = "github"\n'
    )
    issuers = load_issuers(write(tmp_path / "i.toml", github_only), audience="a", leeway=0)
    text = '[[project.x.publisher]]\nprovider = "google"\nemail = "a@b.example"\n'
    with pytest.raises(
        TrustConfigError, match=re.escape("'https://accounts.google.com' is not a configured")
    ):
        load_trust(write(tmp_path / "p.toml", text), issuers)
