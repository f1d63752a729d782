"""The CI job's own OIDC credential, found by the `id` package (as twine and the publish action do).

`id` knows GitHub Actions, GitLab CI/CD (the `<AUDIENCE>_ID_TOKEN` variable, the
audience upper-cased with every other character turned into `_`), Buildkite,
CircleCI and Google Cloud.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from service.client.outcome import Exit, Failure
from service.client.text import printable

Detector = Callable[[str], str | None]

PERMISSION_HINT = (
    "on GitHub Actions the job needs `permissions: id-token: write`; on GitLab declare "
    "`id_tokens: {var}: {{aud: {audience}}}` in the job"
)


def gitlab_variable(audience: str) -> str:
    """The variable GitLab must define for `id` to find a token for `audience`."""
    return re.sub(r"[^A-Z0-9_]|^[^A-Z_]", "_", audience.upper()) + "_ID_TOKEN"


def ambient_credential(audience: str, detect: Detector | None = None) -> str | Failure:
    try:
        import id as oidc_id  # the `id` package: only the CI side needs it
    except ImportError:
        return Failure(
            Exit.CONFIGURATION, "`mintgate exchange` needs the `id` package: pip install id"
        )
    hint = PERMISSION_HINT.format(var=gitlab_variable(audience), audience=audience)
    try:
        credential = (detect or oidc_id.detect_credential)(audience)
    except oidc_id.IdentityError as exc:
        # id's messages name the provider and the variable, never the credential itself.
        return Failure(
            Exit.CONFIGURATION,
            f"cannot get an OIDC token for audience {audience!r}: {printable(str(exc))}\n"
            f"  hint: {hint}",
        )
    if not credential:
        return Failure(
            Exit.CONFIGURATION,
            "no ambient OIDC credential: not running on GitHub Actions, GitLab CI/CD, "
            f"Buildkite, CircleCI or Google Cloud, or the job may not request one\n  hint: {hint}",
        )
    return credential
