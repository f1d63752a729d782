"""What the /api/v1 handlers share, built once by app.py and kept on the API app's state."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.requests import Request

from service.accounts.accounts import Accounts
from service.accounts.core import Deps, Enforcement
from service.accounts.incident import UnwrittenMints
from service.accounts.notify import notifier_for
from service.accounts.passwords import BreachChecker, PasswordPolicy, Passwords, load_common
from service.accounts.secretbox import SecretBox
from service.accounts.sessions import Sessions
from service.accounts.webauthn_rp import RelyingParty
from service.apitokens.keys import RootKey
from service.issuers import Issuers
from service.observability.clientip import ClientAddress, limit_key
from service.publishers.base import Refusal
from service.ratelimit import Limit, RateLimiter
from service.revocation import RevocationStore
from service.settings import Settings
from service.staging.approve import Approvals
from service.store.base import Store


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Password and second-factor guesses, counted per client address and per account."""

    limiter: RateLimiter
    per_ip: Limit | None
    per_account: Limit | None

    async def check(self, kind: str, ip: str, account: str | None) -> Refusal | None:
        # Separate budgets per kind (password, second factor): a user who typed the
        # password wrong a few times can still finish with their code.
        checks = [(self.per_ip, limit_key(ip))]
        if account is not None:
            checks.append((self.per_account, account.lower()))
        for limit, key in checks:
            if limit is not None:
                refused = await self.limiter.check(limit, f"{kind}\x00{key}")
                if refused is not None:
                    return refused
        return None


@dataclass(frozen=True, slots=True)
class ApiState:
    accounts: Accounts
    sessions: Sessions
    rp: RelyingParty
    attempts: AttemptLimits
    clients: ClientAddress
    origin: str  # MINTGATE_URL's origin: the only one whose cookie requests we accept
    secure_cookie: bool
    issuers: Issuers  # publisher tables are checked against them, as the TOML loader does
    root_key: RootKey  # signs the API tokens users create
    # Staged publishing (approve, reject; MINTGATE_STAGING_*): app.py sets it after build_state.
    staging: Approvals | None = None
    # Where a freeze revokes minted tokens (issue 21): the store verifiers and the gateway read.
    revocations: RevocationStore | None = None
    # With the mint journal: the records a freeze must read before minted_tokens.
    unwritten: UnwrittenMints | None = None

    @property
    def deps(self) -> Deps:
        return self.accounts.deps

    @property
    def cookie_name(self) -> str:
        # __Host-: the browser refuses it unless Secure, Path=/ and no Domain, so a
        # sibling subdomain cannot plant or shadow it. Plain http on loopback
        # (development) cannot use the prefix.
        return "__Host-mintgate-session" if self.secure_cookie else "mintgate-session"


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def build_state(
    settings: Settings,
    *,
    store: Store,
    secrets: SecretBox,
    breaches: BreachChecker | None,
    passwords: Passwords,
    limiter: RateLimiter,
    clients: ClientAddress,
    clock: Callable[[], float],
    issuers: Issuers,
    root_key: RootKey,
) -> ApiState:
    """The account layer over protocols app.py built; nothing here opens a connection."""
    accounts = Accounts(
        store,
        passwords=passwords,
        policy=PasswordPolicy(load_common(settings.common_passwords_file), breaches),
        secrets=secrets,
        issuer=urlsplit(settings.url).hostname or "mintgate",
        clock=clock,
        notifier=notifier_for(settings.smtp_url, settings.smtp_from),
        enforcement=Enforcement(required_from=settings.two_factor_required_from),
    )
    rate_ip, rate_account = settings.rate_limit_login_ip, settings.rate_limit_login_account
    origin = urlsplit(settings.url)
    return ApiState(
        accounts=accounts,
        sessions=Sessions(accounts.deps, timedelta(seconds=settings.session_ttl)),
        rp=RelyingParty(rp_id=settings.webauthn_rp_id, origin=settings.webauthn_origin),
        attempts=AttemptLimits(
            limiter,
            Limit("login-ip", rate_ip, "address") if rate_ip else None,
            Limit("login-account", rate_account, "account") if rate_account else None,
        ),
        clients=clients,
        origin=f"{origin.scheme}://{origin.netloc}",
        # Plain http only for a loopback development server: a browser would never
        # send a Secure cookie back over it, and nobody else can see loopback traffic.
        secure_cookie=not (origin.scheme == "http" and _loopback(origin.hostname)),
        issuers=issuers,
        root_key=root_key,
    )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
