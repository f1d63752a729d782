"""A form per provider, the table it produces, and the claim checks a publisher makes.

The form is only a way to type the TOML table: validation stays the loader's
(accounts.publishing.validated), and the checks shown come from the Publisher
that validation built, so the page shows what the exchange will compare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.issuers import Issuers
from service.publishers import PROVIDERS
from service.publishers.base import Glob, Publisher
from service.publishers.github import GitHubPublisher
from service.publishers.gitlab import GitLabPublisher
from service.publishers.preset import Preset
from service.publishers.rules import RulesPublisher

TABLE_PREFIX: Final = "t_"  # form fields of the table, apart from csrf_token and the like
LIST_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    required: bool = True
    many: bool = False  # typed as a comma- or space-separated list
    hint: str = ""


# Each provider as its owner writes it; the key stays the TOML `provider` value.
LABELS: Final[Mapping[str, str]] = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "google": "Google",
    "activestate": "ActiveState",
    "circleci": "CircleCI",
    "buildkite": "Buildkite",
    "semaphore": "Semaphore",
    "custom": "custom rules",
}


@dataclass(frozen=True, slots=True)
class ProviderForm:
    provider: str
    issuers: tuple[str, ...]  # configured issuers of this provider; the first is the default
    fields: tuple[Field, ...]

    @property
    def label(self) -> str:
        return LABELS.get(self.provider, self.provider)


# Code providers declare their keys in code; presets carry theirs as data.
_CODE_FIELDS: Final[Mapping[str, tuple[Field, ...]]] = {
    "github": (
        Field("repository", hint="owner/repo"),
        Field("repository_owner_id", hint="the owner's numeric id"),
        Field("repository_id", required=False, hint="numeric; empty: pinned at first use"),
        Field("workflow", hint="release.yml"),
        Field("environment", required=False, hint="pypi"),
        Field("refs", required=False, many=True, hint="refs/tags/v*"),
    ),
    "gitlab": (
        Field("namespace", hint="group or group/subgroup"),
        Field("project", hint="project"),
        Field("ci_config_file", hint=".gitlab-ci.yml"),
        Field("environment", required=False, hint="release"),
        Field("namespace_id", required=False),
        Field("project_id", required=False),
    ),
}


def provider_forms(issuers: Issuers) -> list[ProviderForm]:
    """One form per provider with a configured issuer (custom rules are API/TOML only)."""
    forms = []
    for name, provider in PROVIDERS.items():
        urls = tuple(i.url for i in issuers.values() if i.provider == name)
        if not urls:
            continue
        if name in _CODE_FIELDS:
            fields = _CODE_FIELDS[name]
        elif isinstance(provider, Preset):
            fields = tuple(
                Field(key, k.required, k.many, k.expected) for key, k in provider.keys.items()
            )
        else:
            continue
        default = provider.DEFAULT_ISSUER
        ordered = sorted(urls, key=lambda u: u != default)
        forms.append(ProviderForm(name, tuple(ordered), fields))
    return forms


def table_from_form(fields: Mapping[str, str], form: ProviderForm) -> dict[str, Any]:
    """The TOML-equivalent table; empty optional fields are left out, lists split."""
    table: dict[str, Any] = {"provider": form.provider}
    issuer = fields.get("issuer", "")
    if issuer:
        table["issuer"] = issuer
    for field in form.fields:
        value = fields.get(TABLE_PREFIX + field.name, "").strip()
        if not value:
            if field.required:
                table[field.name] = ""  # the loader names the missing key
            continue
        table[field.name] = [v for v in LIST_SPLIT.split(value) if v] if field.many else value
    return table


def form_values(table: Mapping[str, Any]) -> dict[str, str]:
    """A table back into form fields (the preview carries it as hidden fields)."""
    out = {}
    for key, value in table.items():
        if key in ("provider", "issuer"):
            out[key] = str(value)
        elif isinstance(value, list):
            out[TABLE_PREFIX + key] = " ".join(str(v) for v in value)
        else:
            out[TABLE_PREFIX + key] = str(value)
    return out


@dataclass(frozen=True, slots=True)
class Check:
    claim: str
    how: str
    expected: str


def _globs(globs: tuple[Glob, ...]) -> str:
    return " or ".join(repr(g.text) for g in globs)


def claim_checks(publisher: Publisher) -> list[Check]:
    """What an ID token's claims are compared with, value by value."""
    checks = [Check("iss", "exact", publisher.issuer)]
    if isinstance(publisher, GitHubPublisher):
        checks += [
            Check("repository", "case-insensitive", publisher.repository),
            Check("repository_owner_id", "exact (pinned id)", publisher.repository_owner_id),
            Check(
                "repository_id",
                "exact (pinned id)",
                publisher.repository_id or "the first mint's, pinned at first use",
            ),
            Check(
                "workflow_ref",
                "path exact, then '@' and the token's own ref",
                f"{publisher.repository}/.github/workflows/{publisher.workflow}@<ref>",
            ),
        ]
        if publisher.environment is not None:
            checks.append(Check("environment", "case-insensitive", publisher.environment))
        if publisher.refs:
            checks.append(Check("ref", "anchored glob", _globs(publisher.refs)))
        refused = sorted({"pull_request_target", "workflow_run"} - publisher.allow_events)
        if refused:
            checks.append(Check("event_name", "refused when", " or ".join(refused)))
    elif isinstance(publisher, GitLabPublisher):
        path = f"{publisher.namespace}/{publisher.project}"
        checks += [
            Check("project_path", "case-insensitive", path),
            Check(
                "ci_config_ref_uri",
                "file path exact, then '@' and the token's ref_path",
                f"{publisher.host}/{path}//{publisher.ci_config_file}@<ref_path>",
            ),
        ]
        for claim, value in (
            ("environment", publisher.environment),
            ("namespace_id", publisher.namespace_id),
            ("project_id", publisher.project_id),
        ):
            if value is not None:
                how = "exact (case-sensitive)" if claim == "environment" else "exact (pinned id)"
                checks.append(Check(claim, how, value))
    elif isinstance(publisher, RulesPublisher):
        for rule in publisher.rules:
            if isinstance(rule.value, tuple):
                checks.append(Check(rule.claim, "anchored glob", _globs(rule.value)))
            elif isinstance(rule.value, bool):
                checks.append(Check(rule.claim, "JSON boolean", str(rule.value).lower()))
            else:
                checks.append(Check(rule.claim, rule.kind.replace("_", " "), rule.value))
        if publisher.required:
            checks.append(Check(", ".join(publisher.required), "present", "non-empty"))
    return checks
