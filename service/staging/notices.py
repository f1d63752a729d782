"""The notices of staged publishing, and who receives them: every maintainer of the project.

The account layer's notifier renders a notice from its MESSAGES table; these
events are added to it here, so the staging room stays in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.accounts import notify
from service.accounts.notify import Notice
from service.store.base import Transaction, UserRecord

MESSAGES = {
    "staging-changed": (
        "Staged publishing changed",
        "The project's staged publishing setting was changed",
    ),
    "release-staged": (
        "Release staged: approval needed",
        "A trusted-publishing upload was staged and waits for a maintainer's approval",
    ),
    "release-approved": ("Staged release approved", "A staged release was approved and published"),
    "release-rejected": ("Staged release rejected", "A staged release was rejected and discarded"),
    "release-expired": (
        "Staged release expired",
        "A staged release was not approved in time and was discarded",
    ),
    "release-approval-stalled": (
        "Staged release approval interrupted",
        "An approval stopped before it finished and the release waits again;"
        " files already published stay published, approve it again to send the rest",
    ),
    "release-tampered": (
        "Staged files changed",
        "A staged file no longer matches the SHA-256 recorded when it was staged;"
        " the approval was refused",
    ),
}
for _event, _text in MESSAGES.items():
    notify.MESSAGES.setdefault(_event, _text)


async def maintainers(tx: Transaction, project_id: int) -> list[UserRecord]:
    found = [await tx.user_by_id(m.user_id) for m in await tx.project_members(project_id)]
    return [u for u in found if u is not None]


def to_all(users: Sequence[UserRecord], event: str, detail: str) -> list[Notice]:
    return [Notice(u.email, u.username, event, detail) for u in users]
