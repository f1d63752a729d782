"""GitLab CI/CD trusted publishers: which pipeline jobs may publish.

A publisher names a project (`namespace/project`, subgroups allowed in the
namespace), the CI configuration file the pipeline was defined by, and
optionally an environment and pinned numeric ids for the namespace and the
project (a pin survives a deleted-and-recreated path of the same name).

The claims are GitLab's documented ID token claims (`id_tokens:` keyword).
`ci_config_ref_uri` looks like
`gitlab.com/group/project//.gitlab-ci.yml@refs/heads/main`: the instance host,
the project path, `//`, the file path in the repository, `@`, the ref path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from service.publishers import base

PROVIDER: Final = "gitlab"
DEFAULT_ISSUER: Final = "https://gitlab.com"

# Every token carries a jti: one without is refused, not replay-keyed by its hash.
REQUIRES_JTI: Final = True
# Publishers are looked up by this claim (casefolded) before any check runs.
LOOKUP_CLAIM: Final = "project_path"
# Present and non-empty strings, or the request is refused before any comparison.
# `namespace_id` and `project_id` are required too when the publisher pins them.
REQUIRED_CLAIMS: Final = ("sub", "project_path", "ci_config_ref_uri", "ref_path", "sha")
# What each checked claim is compared with, and how.
CHECKED_CLAIMS: Final = MappingProxyType(
    {
        "project_path": "`{namespace}/{project}`, case-insensitive",
        "ci_config_ref_uri": "`{issuer host}/{namespace}/{project}//{ci_config_file}@{ref_path}`;"
        " host and project case-insensitive, file path exact",
        "environment": "`environment`, exact: GitLab environments are case-sensitive",
        "namespace_id": "`namespace_id`, exact (pinned id, only when configured)",
        "project_id": "`project_id`, exact (pinned id, only when configured)",
    }
)
PROVENANCE_CLAIMS: Final = (
    "project_path",
    "ci_config_ref_uri",
    "sha",
    "ref_path",
    "environment",
    "pipeline_id",
    "job_id",
)

_KEYS: Final = frozenset(
    {"namespace", "project", "ci_config_file", "environment", "namespace_id", "project_id"}
)
_NAME: Final = r"[A-Za-z0-9_.-]+"
_NAMESPACE_RE: Final = re.compile(rf"{_NAME}(?:/{_NAME})*")
_PROJECT_RE: Final = re.compile(_NAME)
# Relative, no empty or dot segments, no '@' (it ends the path in ci_config_ref_uri).
_CONFIG_FILE_RE: Final = re.compile(r"(?!\.{1,2}(?:/|$))[^/@\s]+(?:/(?!\.{1,2}(?:/|$))[^/@\s]+)*")


@dataclass(frozen=True, slots=True)
class GitLabPublisher:
    namespace: str
    project: str
    ci_config_file: str
    issuer: str = DEFAULT_ISSUER
    environment: str | None = None
    namespace_id: str | None = None
    project_id: str | None = None

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def lookup_key(self) -> str:
        return f"{self.namespace}/{self.project}".casefold()

    @property
    def identity(self) -> str:
        env = f":env={self.environment}" if self.environment is not None else ""
        return f"{PROVIDER}:{self.namespace}/{self.project}:{self.ci_config_file}{env}"

    @property
    def host(self) -> str:
        """The issuer's host (and port), as GitLab writes it into `ci_config_ref_uri`."""
        return urlsplit(self.issuer).netloc.rpartition("@")[2]

    def verify(self, claims: base.Claims, *, now: int) -> base.Match | base.Refusal:
        missing = base.first_missing(claims, REQUIRED_CLAIMS)
        if missing is not None:
            return missing
        refusal = base.first_refusal(
            base.casefold(claims, "project_path", f"{self.namespace}/{self.project}"),
            self._ci_config(claims),
            *self._optional_checks(claims),
        )
        if refusal is not None:
            return refusal
        provenance = {k: v for k in PROVENANCE_CLAIMS if isinstance(v := claims.get(k), str) and v}
        return base.Match(self.identity, provenance)

    def _optional_checks(self, claims: base.Claims) -> list[base.Refusal | None]:
        checks = []
        if self.environment is not None:
            checks.append(base.exact(claims, "environment", self.environment))
        if self.namespace_id is not None:
            checks.append(base.pinned_id(claims, "namespace_id", self.namespace_id))
        if self.project_id is not None:
            checks.append(base.pinned_id(claims, "project_id", self.project_id))
        return checks

    def _ci_config(self, claims: base.Claims) -> base.Refusal | None:
        value: str = claims["ci_config_ref_uri"]
        location, _, ref_path = value.partition("@")
        # Neither the project path nor our file path holds '//' or '@', so the
        # first of each is the separator GitLab wrote.
        project, _, path = location.partition("//")
        expected = f"{self.host}/{self.namespace}/{self.project}"
        if (
            project.casefold() == expected.casefold()
            and path == self.ci_config_file
            and ref_path == claims["ref_path"]
        ):
            return None
        shown = f"'{expected}//{self.ci_config_file}@...' (... = the ref_path claim)"
        return base.refuse("ci_config_ref_uri", shown, value)


def from_table(table: Mapping[str, object], *, issuer: str) -> GitLabPublisher:
    """Build from one TOML publisher table; raise `base.ConfigError` naming the bad key."""
    base.known_keys(table, _KEYS)
    if not urlsplit(issuer).netloc:
        raise base.ConfigError("issuer", f"expected an https URL with a host, got {issuer!r}")
    namespace = base.config_string(
        table, "namespace", _NAMESPACE_RE, "a group path like 'group/subgroup'"
    )
    project = base.config_string(table, "project", _PROJECT_RE, "a project name without '/'")
    ci_config_file = base.config_string(
        table, "ci_config_file", _CONFIG_FILE_RE, "a relative path like '.gitlab-ci.yml'"
    )
    environment = base.config_optional(table, "environment", None, "a non-empty string")
    return GitLabPublisher(
        namespace=namespace,
        project=project,
        ci_config_file=ci_config_file,
        issuer=issuer,
        environment=environment,
        namespace_id=base.config_id(table, "namespace_id"),
        project_id=base.config_id(table, "project_id"),
    )
