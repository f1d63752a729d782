"""The one orchestration of a mint: OIDC token in, `Minted` or `Refusal` out.

The order is the security argument: cheap structural checks first, then the
issuer allow-list (before any network request), then the signature, then the
publisher policies, and the replay record last, so a token that fails any
other gate does not burn its jti, and nothing is signed unless every gate held.
With a mint journal (trust/journal.py) the replay record and the mint's record
are one write, made with the token planned but not yet signed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import jwks_cache
from service.issuers import Issuers
from service.minting.tokens import Grant, Minted, Minter, Planned
from service.oidc.envelope import open_envelope
from service.oidc.verify import verify_token
from service.publishers.base import (
    INVALID_PUBLISHER,
    INVALID_REUSE_TOKEN,
    INVALID_TOKEN,
    NOT_ENABLED,
    SERVICE_UNAVAILABLE,
    Claims,
    Match,
    Refusal,
    lookup_value,
)
from service.replay import ReplayStore, ReplayUnavailable
from service.trust import (
    PROJECT_ARCHIVED,
    PROJECT_QUARANTINED,
    PUBLISHER_FROZEN,
    FrozenTrust,
    Trusted,
    TrustStore,
    TrustUnavailable,
)
from service.trust.pending import PendingTrust, adopt
from service.trust.records import RecordUnavailable

log = logging.getLogger(__name__)

MAX_REASONS = 5


class KeySource(Protocol):
    async def get_key(self, issuer: str, kid: str) -> jwks_cache.Key: ...


class MintObserver(Protocol):
    """Told every outcome (service.observability.metrics.Metrics counts them)."""

    def minted(self, provider: str) -> None: ...

    def refused(self, provider: str, code: str) -> None: ...

    def store_unavailable(self, store: str) -> None: ...


class MintRecorder(Protocol):
    """Told each mint after signing, with the entries that matched (trust/records.py:
    last use, audit, the minted token's row).

    It returns once the record is durable; if it raises, the token is never answered
    (503): a token nobody can trace or revoke in an incident is not issued.
    """

    async def minted(
        self, issuer: str, claims: Claims, used: Sequence[Trusted], minted: Minted
    ) -> None: ...


class MintJournal(Protocol):
    """The replay claim and the mint's record as one write (trust/journal.py), made
    before the token is signed: True when this was the OIDC token's first use. Raises
    ReplayUnavailable, or RecordUnavailable when the record cannot be kept."""

    async def consume(
        self,
        issuer: str,
        jti: str,
        *,
        until: int,
        claims: Claims,
        used: Sequence[Trusted],
        minted: Planned,
    ) -> bool: ...


class PublisherGate(Protocol):
    """Asked after the signature holds, with the provider's lookup key (service.ratelimit)."""

    async def check(self, issuer: str, lookup_key: str) -> Refusal | None: ...


class _Unobserved:
    def minted(self, provider: str) -> None:
        pass

    def refused(self, provider: str, code: str) -> None:
        pass

    def store_unavailable(self, store: str) -> None:
        pass


class _Attempt:
    """What one mint learned on its way, for the observer: refusals before the issuer

    lookup are counted under provider "unknown"."""

    __slots__ = ("provider",)

    def __init__(self) -> None:
        self.provider = "unknown"


class Exchange:
    def __init__(
        self,
        *,
        issuers: Issuers,
        keys: KeySource,
        trust: TrustStore,
        replay: ReplayStore,
        minter: Minter,
        enabled: bool = True,
        disabled_providers: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
        observer: MintObserver | None = None,
        publisher_gate: PublisherGate | None = None,
        pending: PendingTrust | None = None,
        recorder: MintRecorder | None = None,
        journal: MintJournal | None = None,
    ) -> None:
        self.issuers = issuers
        self.keys = keys
        self.trust = trust
        self.replay = replay
        self.minter = minter
        self.enabled = enabled
        self.disabled_providers = disabled_providers
        self.clock = clock
        self.observer: MintObserver = observer or _Unobserved()
        self.publisher_gate = publisher_gate
        self.pending = pending
        self.recorder = recorder
        # With a journal, the replay store and the recorder are not asked: it does both.
        self.journal = journal

    async def mint(self, token: str) -> Minted | Refusal:
        attempt = _Attempt()
        result = await self._mint(token, attempt)
        if isinstance(result, Refusal):
            self.observer.refused(attempt.provider, result.code)
            log.info(
                "mint refused: %s: %s",
                result.code,
                result.description,
                extra={"event": "mint-refused", "provider": attempt.provider, "code": result.code},
            )
        else:
            self.observer.minted(attempt.provider)
            log.info(
                "minted %s for %s",
                result.jti,
                ",".join(result.projects),
                extra={"event": "minted", "provider": attempt.provider, "jti": result.jti},
            )
        return result

    async def _mint(self, token: str, attempt: _Attempt) -> Minted | Refusal:
        if not self.enabled:
            return Refusal(NOT_ENABLED, "trusted publishing is not enabled")
        envelope = open_envelope(token)
        if isinstance(envelope, Refusal):
            return envelope
        issuer = self.issuers.get(envelope.issuer)
        if issuer is None:
            return Refusal(INVALID_TOKEN, f"iss: {envelope.issuer[:100]!r} is not a trusted issuer")
        attempt.provider = issuer.provider
        if issuer.provider in self.disabled_providers:
            return Refusal(NOT_ENABLED, f"trusted publishing from {issuer.provider} is not enabled")
        try:
            key = await self.keys.get_key(issuer.url, envelope.kid)
        except jwks_cache.KeyNotFound:
            return Refusal(
                INVALID_TOKEN, f"kid: {envelope.kid[:64]!r} is not a key of {issuer.url}"
            )
        except jwks_cache.JWKSError as exc:
            log.warning("keys of %s unavailable: %s", issuer.url, exc)
            return Refusal(SERVICE_UNAVAILABLE, f"keys of {issuer.url} are unavailable; try again")
        now = int(self.clock())
        claims = verify_token(envelope, key, issuer, now=now)
        if isinstance(claims, Refusal):
            return claims
        used: list[Trusted] = []
        try:
            grant = await self._grant(issuer.url, issuer.provider, claims, now, used)
        except TrustUnavailable:
            return Refusal(SERVICE_UNAVAILABLE, "trusted publishers are unavailable; try again")
        if isinstance(grant, Refusal):
            return grant
        replayed = replay_id(token, claims)
        until = claims["exp"] + issuer.leeway
        if self.journal is not None:
            return await self._journaled(
                self.journal, issuer.url, replayed, until, claims, used, grant, now
            )
        try:
            first_use = await self.replay.consume(issuer.url, replayed, until=until)
        except ReplayUnavailable as exc:
            return self._replay_unavailable(exc)
        if not first_use:
            return Refusal(INVALID_REUSE_TOKEN, "invalid token: already used")
        minted = self.minter.mint(grant, now=now)
        unrecorded = await self._record(issuer.url, claims, used, minted)
        if unrecorded is not None:
            # Nobody holds the token signed above: give the OIDC token its jti back, so
            # the job's retry mints instead of meeting "already used".
            with contextlib.suppress(ReplayUnavailable):
                await self.replay.release(issuer.url, replayed)
            return unrecorded
        return minted

    async def _journaled(
        self,
        journal: MintJournal,
        issuer: str,
        replayed: str,
        until: int,
        claims: Claims,
        used: Sequence[Trusted],
        grant: Grant,
        now: int,
    ) -> Minted | Refusal:
        planned = self.minter.plan(grant, now=now)
        try:
            first_use = await journal.consume(
                issuer, replayed, until=until, claims=claims, used=used, minted=planned
            )
        except ReplayUnavailable as exc:
            return self._replay_unavailable(exc)
        except RecordUnavailable as exc:
            return self._unrecorded(planned.jti, exc)
        if not first_use:
            return Refusal(INVALID_REUSE_TOKEN, "invalid token: already used")
        return self.minter.sign(planned)

    def _replay_unavailable(self, exc: ReplayUnavailable) -> Refusal:
        log.warning("replay store unavailable: %s", exc)
        self.observer.store_unavailable("replay")
        return Refusal(SERVICE_UNAVAILABLE, "replay protection is unavailable; try again")

    def _unrecorded(self, jti: str, exc: Exception) -> Refusal:
        # A store's exception text may quote the statement and its values: the type only.
        why = str(exc) if isinstance(exc, RecordUnavailable) else type(exc).__name__
        log.warning("could not record mint %s: %s", jti, why)
        self.observer.store_unavailable("audit")
        return Refusal(SERVICE_UNAVAILABLE, "the audit trail is unavailable; try again")

    async def _record(
        self, issuer: str, claims: Claims, used: Sequence[Trusted], minted: Minted
    ) -> Refusal | None:
        if self.recorder is None:
            return None
        try:
            await self.recorder.minted(issuer, claims, used, minted)
        except Exception as exc:  # the signed token is dropped, never answered
            return self._unrecorded(minted.jti, exc)
        return None

    async def _grant(
        self, issuer: str, provider: str, claims: Claims, now: int, used: list[Trusted]
    ) -> Grant | Refusal:
        # The issuer's, not the provider's: a custom issuer names its own (issuers.toml).
        lookup_claim = self.issuers[issuer].lookup_claim
        lookup_key = lookup_value(claims, lookup_claim)
        if isinstance(lookup_key, Refusal):
            return lookup_key
        if self.publisher_gate is not None:
            # Before the trust lookup and the replay record: a limited request costs no
            # lookups and does not burn its jti, so the job may retry after Retry-After.
            limited = await self.publisher_gate.check(issuer, lookup_key)
            if limited is not None:
                return limited
        candidates = await self.trust.publishers_for(issuer, lookup_key)
        projects: list[str] = []
        matches: list[Match] = []
        reasons: list[str] = []
        matched: list[Trusted] = []
        for trusted in candidates:
            outcome = trusted.publisher.verify(claims, now=now)
            if isinstance(outcome, Match):
                matched.append(trusted)
                matches.append(outcome)
            elif outcome.description not in reasons:
                reasons.append(outcome.description)
        in_state = _by_project_state(matched, matches)
        if isinstance(in_state, Refusal):
            return in_state
        matched, matches = in_state
        projects = [t.project for t in matched]
        used.extend(matched)
        if not matches and self.pending is not None:
            # Only when no trusted publisher matched: a pending one never adds a project
            # to a grant an existing project's publisher already earned.
            adopted = await adopt(self.pending, issuer, lookup_key, claims, now)
            if isinstance(adopted, Refusal):
                return adopted
            if adopted is not None:
                projects, matches = [adopted[0].project], [adopted[1]]
                used.append(adopted[0])
        if not matches:
            frozen = await self._frozen(issuer, lookup_key, claims, now)
            if frozen is not None:
                return frozen
        if not matches and not candidates:
            shown = str(claims[lookup_claim])[:200]
            return Refusal(
                INVALID_PUBLISHER,
                f"valid token, but no trusted publisher for {lookup_claim} {shown!r}",
            )
        if not matches:
            shown = "; ".join(reasons[:MAX_REASONS])
            more = f" (and {len(reasons) - MAX_REASONS} more)" if len(reasons) > MAX_REASONS else ""
            return Refusal(
                INVALID_PUBLISHER,
                f"valid token, but no corresponding publisher: {shown}{more}",
            )
        pinned = await self._pin_first_use(used, matches)
        if pinned is not None:
            return pinned
        return Grant(
            subject=f"{provider}:{claims['sub']}",
            provider=provider,
            projects=projects,
            publishers=[m.publisher for m in matches],
            provenance=matches[0].provenance,
            stage_only=[t.project for t in used if t.stage_only],
        )

    async def _pin_first_use(
        self, used: Sequence[Trusted], matches: Sequence[Match]
    ) -> Refusal | None:
        """Pin each matched GitHub publisher that names no repository_id to this token's.

        Before the replay record and the signature: a store that cannot record the pin
        raises TrustUnavailable (503), so nothing is ever minted unpinned.
        """
        for trusted, match in zip(used, matches, strict=True):
            if match.first_use_repository_id is not None:
                refused = await self.trust.pin_repository_id(trusted, match.first_use_repository_id)
                if refused is not None:
                    return refused
        return None

    async def _frozen(
        self, issuer: str, lookup_key: str, claims: Claims, now: int
    ) -> Refusal | None:
        """Why nothing matched, when a frozen entry would have: said, never trusted."""
        if not isinstance(self.trust, FrozenTrust):
            return None
        for entry in await self.trust.frozen_for(issuer, lookup_key):
            if isinstance(entry.publisher.verify(claims, now=now), Match):
                return Refusal(
                    PUBLISHER_FROZEN,
                    f"valid token, but the trusted publisher of project {entry.project!r} is"
                    " frozen by its owners or the operator (incident response); it mints nothing"
                    " until it is unfrozen",
                )
        return None


def _by_project_state(
    matched: Sequence[Trusted], matches: Sequence[Match]
) -> tuple[list[Trusted], list[Match]] | Refusal:
    """Archived projects leave the grant; a quarantined one refuses the whole mint.

    Quarantine says the run itself is suspect, so it earns no token for any project.
    """
    quarantined = sorted({t.project for t in matched if t.project_state == "quarantined"})
    if quarantined:
        return Refusal(
            PROJECT_QUARANTINED,
            f"valid token, but project {quarantined[0]!r} is quarantined: trusted publishing"
            " is suspended for it",
        )
    kept = [(t, m) for t, m in zip(matched, matches, strict=True) if t.project_state == "active"]
    if matched and not kept:
        archived = sorted({t.project for t in matched})
        return Refusal(
            PROJECT_ARCHIVED,
            f"valid token, but project {archived[0]!r} is archived: it accepts no new releases",
        )
    return [t for t, _ in kept], [m for _, m in kept]


def replay_id(token: str, claims: Claims) -> str:
    """The token's jti; for providers that send none (Google, CircleCI), the token's hash.

    A signed token cannot be re-encoded into another valid one with the same
    claims, so its digest identifies it as well as a jti would.
    """
    jti = claims.get("jti")
    if isinstance(jti, str):
        return jti
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()
