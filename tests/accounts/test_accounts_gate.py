"""The 2FA gate as a table and the 15-minute confirmation window: pure, no database."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.accounts.core import Enforcement
from service.accounts.policy import OPEN, Action, gate, require_recent_two_factor
from service.publishers.base import Refusal
from service.store import UserRecord
from service.store.records import Exposure

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
WITHOUT = UserRecord(1, "bob", "b@example.org", "h", NOW, None, None)
WITH = replace(WITHOUT, two_factor_enabled_at=NOW - timedelta(days=1), last_two_factor_at=NOW)
NOTHING = Exposure((), (), ())
MAINTAINER = Exposure(("foo",), (), ())
ORG_MEMBER = Exposure((), ("acme",), ())
FLAGGED = Exposure(("foo",), (), ("foo",))
DUE_TODAY = Enforcement(required_from=NOW.date())
DUE_TOMORROW = Enforcement(required_from=NOW.date() + timedelta(days=1))

GATED = {
    Action.CREATE_PROJECT,
    Action.CREATE_ORGANIZATION,
    Action.ACCEPT_INVITATION,
    Action.MANAGE_ROLES,
    Action.CHANGE_ROLES,
    Action.MANAGE_PUBLISHERS,
    Action.MANAGE_TOKENS,
    Action.UPLOAD,
}
EVERYTHING_BUT_OPEN = set(Action) - OPEN

# user state -> (user, exposure, enforcement, the actions refused with two-factor-required)
STATES = {
    "2fa": (WITH, MAINTAINER, DUE_TODAY, set()),
    "no-2fa": (WITHOUT, NOTHING, Enforcement(), GATED),
    "no-2fa-maintainer": (WITHOUT, MAINTAINER, Enforcement(), GATED),
    "no-2fa-maintainer-before-date": (WITHOUT, MAINTAINER, DUE_TOMORROW, GATED),
    "no-2fa-maintainer-on-date": (WITHOUT, MAINTAINER, DUE_TODAY, EVERYTHING_BUT_OPEN),
    "no-2fa-org-member-on-date": (WITHOUT, ORG_MEMBER, DUE_TODAY, EVERYTHING_BUT_OPEN),
    "no-2fa-no-roles-on-date": (WITHOUT, NOTHING, DUE_TODAY, GATED),
    "no-2fa-flagged-project": (WITHOUT, FLAGGED, Enforcement(), EVERYTHING_BUT_OPEN),
}


@pytest.mark.parametrize(
    ("action", "state"),
    [pytest.param(a, s, id=f"{a.value}:{s}") for a, s in itertools.product(Action, STATES)],
)
def test_the_two_factor_gate(action: Action, state: str) -> None:
    user, exposure, enforcement, refused = STATES[state]
    result = gate(user, action, NOW, exposure, enforcement)
    if action in refused:
        assert isinstance(result, Refusal)
        assert result.code == "two-factor-required"
        assert "authenticator app (TOTP) or a security key" in result.description  # says how
    else:
        assert result is None


@pytest.mark.parametrize(
    ("ago", "allowed"),
    [
        pytest.param(timedelta(0), True, id="just-now"),
        pytest.param(timedelta(minutes=15), True, id="exactly-15-minutes"),
        pytest.param(timedelta(minutes=15, seconds=1), False, id="15-minutes-and-a-second"),
        pytest.param(timedelta(hours=5), False, id="hours-ago"),
    ],
)
def test_the_recent_confirmation_window(ago: timedelta, allowed: bool) -> None:
    user = replace(WITH, last_two_factor_at=NOW - ago)
    result = require_recent_two_factor(user, NOW)
    assert (result is None) is allowed
    if not allowed:
        assert isinstance(result, Refusal)
        assert result.code == "recent-two-factor-required"
    sensitive = gate(user, Action.MANAGE_TOKENS, NOW, MAINTAINER, Enforcement())
    assert (sensitive is None) is allowed


def test_never_confirmed_is_not_recent() -> None:
    stale = require_recent_two_factor(replace(WITH, last_two_factor_at=None), NOW)
    assert isinstance(stale, Refusal)
    assert stale.code == "recent-two-factor-required"
    without = require_recent_two_factor(WITHOUT, NOW)
    assert isinstance(without, Refusal)
    assert without.code == "two-factor-required"
