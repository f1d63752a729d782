"""Which uploads are staged, and the refusal codes of staged publishing. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from service.store.records_staging import StagingPolicyRecord

# Refusal codes (kebab-case, stable): the API's status table and the CLI print them.
NO_SUCH_STAGED_RELEASE: Final = "no-such-staged-release"
STAGED_RELEASE_DECIDED: Final = "staged-release-decided"
STAGED_RELEASE_EXPIRED: Final = "staged-release-expired"
STAGED_RELEASE_CHANGED: Final = "staged-release-changed"
STAGED_FILES_CHANGED: Final = "staged-files-changed"
STAGED_FILE_EXISTS: Final = "staged-file-exists"
APPROVAL_CONFIRMATION_REQUIRED: Final = "approval-confirmation-required"
APPROVAL_CONFIRMATION_STALE: Final = "approval-confirmation-stale"
FORWARD_FAILED: Final = "forward-failed"
INVALID_STAGING_POLICY: Final = "invalid-staging-policy"

DEFAULT_TTL = timedelta(days=7)
# A security-key challenge for one approval: long enough to find the key, short
# enough that an answer captured on the way is worthless soon after.
CHALLENGE_TTL = timedelta(minutes=5)
MAX_PUBLISHERS = 50
MAX_PUBLISHER = 512


def stages(
    policy: StagingPolicyRecord | None,
    publishers: Sequence[str],
    *,
    version_approved: bool,
    api_token: bool = False,
) -> bool:
    """Does this upload wait for a maintainer's approval?

    `publishers` are the identities the minted token names; `version_approved`
    says whether a staged release of the same version was approved already;
    `api_token`: the upload came with an API token, which names no publisher.
    """
    if policy is None or not policy.enabled:
        return False
    if api_token:
        # A leaked maintainer token is the threat staging is for: the publisher list
        # narrows which *publishers* are staged and says nothing about tokens.
        if not policy.stage_api_tokens:
            return False
    elif policy.publishers and not set(policy.publishers) & set(publishers):
        return False
    return not (policy.new_versions_only and version_approved)


def check_publishers(value: object) -> tuple[str, ...] | str:
    """The publisher list of a policy, or why it is not one."""
    if not isinstance(value, list) or len(value) > MAX_PUBLISHERS:
        return f"publishers: expected a list of at most {MAX_PUBLISHERS} publisher identities"
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_PUBLISHER:
            return f"publishers: each identity is a string of 1-{MAX_PUBLISHER} characters"
    return tuple(dict.fromkeys(value))
