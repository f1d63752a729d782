"""The upload gateway inside `mintgate serve`: one origin for the exchange and the uploads.

pypa/gh-action-pypi-publish derives everything from one `repository-url`: it asks
`https://{host}/_/oidc/audience` and `/_/oidc/mint-token`, then runs twine against the
URL itself. So when MINTGATE_GATEWAY_BACKEND_URL is set, `mintgate serve` answers
`POST /legacy/` with the gateway's app, and a workflow needs no proxy in front.

In process the gateway checks tokens with the service's own public keys (`OwnKeys`), not
its JWKS over HTTP: they are the very keys that JWKS publishes, read once at start-up
like it, and fetching them would mean a request from the process to itself through
MINTGATE_URL, the public origin, which need not route back from where it runs (and is
https, so a loopback http fetch would also need MINTGATE_GATEWAY_ALLOW_LOOPBACK_HTTP).
Revocations, the HTTP client, the store and the metrics are the service's too, so a
revocation made here holds here at once, and nothing of the gateway's is left to close.
API tokens are accepted by default, with the service's own API-token key and database:
where the pages that create them run, the database they are checked against is there too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
from starlette.routing import BaseRoute, Route

from service import envparse as parse
from service.envparse import EnvReader, SettingsError
from service.gateway.app import create_gateway
from service.gateway.settings import PREFIX, GatewaySettings
from service.minting.keys import SigningKeys
from service.oauth.authority import OwnKeys
from service.observability.metrics import Metrics
from service.revocation import RevocationStore
from service.store import Store

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

PATHS = ("/legacy", "/legacy/")  # twine posts to the repository URL as given, slash or not


def embedded_settings(env: Mapping[str, str], service: Settings) -> GatewaySettings | None:
    """The gateway's settings for `mintgate serve`; None when no backend index is configured.

    The same MINTGATE_GATEWAY_* variables as `mintgate gateway`. Those that name what the
    service already has (its URL, token audience, Redis, database) default to the service's
    and may not differ: one process verifies what it minted, against one state.
    """
    if not env.get(f"MINTGATE_{PREFIX}BACKEND_URL"):
        return None
    inherited: dict[str, tuple[Callable[[str], str], str | None]] = {
        "MINTGATE_URL": (parse.http_url, service.url),
        "TOKEN_AUDIENCE": (parse.nonempty, service.token_audience),
        "REDIS_URL": (parse.redis_url, service.redis_url),
        "DATABASE_URL": (parse.database_url, service.database_url),
    }
    r = EnvReader(env)
    for name, (parser, own) in inherited.items():
        given = r.get(f"{PREFIX}{name}", parser, None)
        if given is not None and given != own:
            raise SettingsError(
                f"MINTGATE_{PREFIX}{name}: inside `mintgate serve` the gateway uses the"
                f" service's own (MINTGATE_{name.removeprefix('MINTGATE_')}); leave it unset"
            )
    defaults = {
        f"MINTGATE_{PREFIX}MINTGATE_URL": service.url,
        f"MINTGATE_{PREFIX}TOKEN_AUDIENCE": service.token_audience,
    }
    if any(
        env.get(f"MINTGATE_{PREFIX}{name}")
        for name in ("API_TOKEN_PUBLIC_KEY", "API_TOKEN_KEY_FILE", "STAGING_DIR")
    ):
        # API tokens and staged uploads are checked against the service's database.
        defaults[f"MINTGATE_{PREFIX}DATABASE_URL"] = service.database_url
    return GatewaySettings.from_env(_Overlay(env, defaults))


class _Overlay(Mapping[str, str]):
    """`env` first, then `defaults`: a view, so every name the reader asks is asked of `env`
    (how `mintgate serve --help` learns the gateway's variables)."""

    def __init__(self, env: Mapping[str, str], defaults: Mapping[str, str]) -> None:
        self._env = env
        self._defaults = defaults

    def __getitem__(self, name: str) -> str:
        value = self._env.get(name)
        if value is None or not value.strip():  # blank is unset, as EnvReader reads it
            return self._defaults[name]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter({**self._defaults, **self._env})

    def __len__(self) -> int:
        return len({**self._defaults, **self._env})


def upload_routes(
    settings: Settings,
    *,
    keys: SigningKeys,
    api_key: str,
    revocations: RevocationStore,
    client: httpx.AsyncClient,
    store: Store,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
) -> list[BaseRoute]:
    """`POST /legacy/` when settings.gateway is set; no routes otherwise.

    `api_key` is the public half of the key the service signs API tokens with
    (`ed25519/<hex>`): unless MINTGATE_GATEWAY_API_TOKEN_PUBLIC_KEY says otherwise, the
    tokens a maintainer creates on these pages upload here, checked against this database.
    """
    gateway = settings.gateway
    if gateway is None:
        return []
    if gateway.api_token_public_key is None:
        gateway = replace(
            gateway, api_token_public_key=api_key, database_url=settings.database_url
        ).checked()
    app = create_gateway(
        gateway,
        client=client,
        revocations=revocations,
        clock=clock,
        store=store if gateway.database_url is not None else None,
        keys=OwnKeys(keys, issuer=settings.url),
        metrics=metrics,
    )
    log.info("upload endpoint /legacy/ forwards to %s", gateway.backend_url)
    return [Route(path, app, methods=["POST"]) for path in PATHS]
