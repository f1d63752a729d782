"""Configuration stops start-up with a message naming the variable, file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.issuers import IssuerConfigError, load_issuers
from service.settings import Settings, SettingsError
from service.trust import normalize_project
from service.trust.toml import TrustConfigError, load_trust

DATA = Path(__file__).parent.parent / "data"
CONFIG = Path(__file__).parent.parent.parent / "config"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MINTGATE_PORT": "abc"}, "MINTGATE_PORT"),
        ({"MINTGATE_PORT": "70000"}, "MINTGATE_PORT"),
        ({"MINTGATE_TOKEN_TTL": "7200"}, "MINTGATE_TOKEN_TTL"),
        ({"MINTGATE_LEEWAY": "-1"}, "MINTGATE_LEEWAY"),
        ({"MINTGATE_URL": "ftp://x"}, "MINTGATE_URL"),
        ({"MINTGATE_URL": "https://x/"}, "MINTGATE_URL"),
        ({"MINTGATE_REDIS_URL": "127.0.0.1:6379"}, "MINTGATE_REDIS_URL"),
        ({"MINTGATE_TRUSTED_PUBLISHING": "maybe"}, "MINTGATE_TRUSTED_PUBLISHING"),
        ({"MINTGATE_MINT_JOURNAL": "sometimes"}, "MINTGATE_MINT_JOURNAL"),
        ({"MINTGATE_PUBLISHERS_FILE": "/nonexistent.toml"}, "MINTGATE_PUBLISHERS_FILE"),
        ({"MINTGATE_SIGNING_KEY_FILES": ","}, "MINTGATE_SIGNING_KEY_FILES"),
        (
            {"MINTGATE_JWKS_MIN_TTL": "600", "MINTGATE_JWKS_DEFAULT_TTL": "300"},
            "MINTGATE_JWKS_MIN_TTL",
        ),
    ],
)
def test_bad_variable_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="MINTGATE_TLS_CERT and MINTGATE_TLS_KEY"):
        Settings.from_env({"MINTGATE_TLS_CERT": str(cert)})


def test_defaults_and_overrides() -> None:
    settings = Settings.from_env(
        {"MINTGATE_DISABLED_PROVIDERS": "GitLab, github", "MINTGATE_PORT": "9000"}
    )
    assert settings.disabled_providers == {"gitlab", "github"}
    assert settings.port == 9000
    assert settings.token_ttl == 900
    assert settings.redis_url is None
    assert settings.mint_journal is True
    assert Settings.from_env({"MINTGATE_MINT_JOURNAL": "off"}).mint_journal is False


def test_shipped_config_loads() -> None:
    issuers = load_issuers(CONFIG / "issuers.toml", audience="mintgate", leeway=30)
    assert set(issuers) == {"https://token.actions.githubusercontent.com", "https://gitlab.com"}
    assert len(load_trust(CONFIG / "publishers.example.toml", issuers)) == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[issuer]]\nurl = "http://gitlab.com"\nprovider = "gitlab"', "https"),
        (
            '[[issuer]]\nurl = "https://x.example"\nprovider = "github"\nalgorithms = ["HS256"]',
            "algorithms",
        ),
        (
            '[[issuer]]\nurl = "https://x.example"\nprovider = "github"\nalgorithms = ["none"]',
            "algorithms",
        ),
        (
            '[[issuer]]\nurl = "https://x.example"\nprovider = "github"\nalgoritms = ["RS256"]',
            "algoritms",
        ),
        (
            2 * '[[issuer]]\nurl = "https://x.example"\nprovider = "github"\n',
            "twice",
        ),
        ('[[issuer]]\nprovider = "github"', "url"),
        ("[[issuer]\n", "issuers.toml"),
        ('[[issuer]]\nurl = "https://x.example"\nprovider = "jenkins"', "provider must be one of"),
    ],
    ids=["http", "hs256", "none", "typo", "duplicate", "no-url", "not-toml", "unknown-provider"],
)
def test_bad_issuer_config_is_named(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "issuers.toml"
    path.write_text(toml)
    with pytest.raises(IssuerConfigError, match=message):
        load_issuers(path, audience="a", leeway=30)


GITHUB_TABLE = """
[[project.{name}.publisher]]
provider = "{provider}"
{issuer}
repository = "octo/pkg"
repository_owner_id = "1"
repository_id = "2"
workflow = "release.yml"
{extra}
"""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 'enviroment = "pypi"'}, "enviroment"),
        ({"provider": "jenkins"}, "provider"),
        ({"issuer": 'issuer = "https://unknown.example"'}, "issuer"),
        ({"issuer": 'issuer = "https://gitlab.com"'}, "configured for 'gitlab'"),
        ({"name": '"not a name!"'}, "not a valid project name"),
    ],
    ids=[
        "typo-key",
        "unknown-provider",
        "unconfigured-issuer",
        "issuer-of-other-provider",
        "bad-name",
    ],
)
def test_bad_publisher_config_names_file_table_and_key(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    fields = {"name": "pkg", "provider": "github", "issuer": "", "extra": "", **changes}
    path = tmp_path / "publishers.toml"
    path.write_text(GITHUB_TABLE.format(**fields))
    issuers = load_issuers(DATA / "issuers.toml", audience="a", leeway=30)
    with pytest.raises(TrustConfigError, match=message) as raised:
        load_trust(path, issuers)
    assert str(path) in str(raised.value)
    assert "[project." in str(raised.value)


def test_same_project_twice_after_normalisation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "publishers.toml"
    body = GITHUB_TABLE.format(name="Foo_Bar", provider="github", issuer="", extra="")
    body += GITHUB_TABLE.format(name="foo-bar", provider="github", issuer="", extra="")
    path.write_text(body)
    issuers = load_issuers(DATA / "issuers.toml", audience="a", leeway=30)
    with pytest.raises(TrustConfigError, match="same project"):
        load_trust(path, issuers)


@pytest.mark.parametrize(
    ("name", "normal"),
    [("Foo_Bar", "foo-bar"), ("foo.bar", "foo-bar"), ("FOO--bar", "foo-bar"), ("a", "a")],
)
def test_project_names_are_normalised_as_pep_503(name: str, normal: str) -> None:
    assert normalize_project(name) == normal


@pytest.mark.parametrize("name", ["", "-foo", "foo-", "foo bar", "foo/bar", "ü"])
def test_invalid_project_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid project name"):
        normalize_project(name)


@pytest.mark.parametrize(
    ("provider", "override", "required"),
    [("github", "", True), ("google", "", False), ("custom", "require_jti = false", False)],
    ids=["github-default", "google-default", "custom-override"],
)
def test_jti_requirement_comes_from_the_provider_unless_overridden(
    tmp_path: Path, provider: str, override: str, required: bool
) -> None:
    path = tmp_path / "issuers.toml"
    lookup = 'lookup = "sub"\n' if provider == "custom" else ""
    path.write_text(
        f'[[issuer]]\nurl = "https://x.example"\nprovider = "{provider}"\n{lookup}{override}\n'
    )
    issuer = load_issuers(path, audience="a", leeway=30)["https://x.example"]
    assert issuer.require_jti is required
