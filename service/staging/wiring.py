"""Approvals built from MINTGATE_STAGING_* and the account layer (for app.py and the CLI)."""

from __future__ import annotations

import httpx

from service.accounts.accounts import Accounts
from service.accounts.webauthn_rp import RelyingParty
from service.gateway.forward import Backend
from service.staging.approve import Approvals
from service.staging.area import FileStagingArea
from service.staging.backend import BackendForwarder
from service.staging.proof import Confirmations
from service.staging.settings import StagingSettings


def approvals(
    settings: StagingSettings | None,
    accounts: Accounts,
    client: httpx.AsyncClient | None,
    rp: RelyingParty | None = None,
) -> Approvals:
    """Without settings, listing and rejecting still work; approving says what is missing."""
    confirmations = Confirmations(accounts, rp)
    if settings is None or client is None:
        return Approvals(accounts.deps, None, None, confirmations)
    backend = Backend(
        settings.backend_url,
        settings.backend_username,
        settings.backend_password,
        timeout=settings.backend_timeout,
    )
    return Approvals(
        accounts.deps,
        FileStagingArea(settings.directory),
        BackendForwarder(client, backend),
        confirmations,
    )
