"""mintgate as it really runs, for `uvicorn --factory mintgate_app:create_app`.

The real `create_app`, the real publishers TOML, Redis replay protection and
the JWKS cache fetching over HTTP; only the issuer's `jwks_uri` points at the
loopback JWKS server `mint_bench.py` starts. Equivalent environment for
`mintgate serve`: MINTGATE_ISSUERS_FILE, MINTGATE_PUBLISHERS_FILE,
MINTGATE_SIGNING_KEY_FILES, MINTGATE_REDIS_URL, MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP=1.

BENCH_APP_LOG=1 turns on INFO logging to a file, as `mintgate serve` does to
stderr (one line per mint), to price that separately.

Optional, for the other benchmarks: BENCH_URL (MINTGATE_URL: the `iss` of minted
tokens, where a registry finds the JWKS), BENCH_OAUTH_CLIENTS_FILE
(MINTGATE_OAUTH_CLIENTS_FILE, for /oauth/introspect), BENCH_JWKS_COOLDOWN
(MINTGATE_JWKS_COOLDOWN, seconds: the JWKS storm rotates keys more often than
the default 60 s allows).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from starlette.applications import Starlette

from service.app import create_app as create_mintgate
from service.asgi import settled
from service.ratelimit import Rate
from service.settings import Settings


def create_app() -> Starlette:
    if os.environ.get("BENCH_APP_LOG") == "1":
        logging.basicConfig(
            level=logging.INFO,
            filename=os.environ["BENCH_APP_LOG_FILE"],
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    clients = os.environ.get("BENCH_OAUTH_CLIENTS_FILE")
    settings = Settings(
        url=os.environ.get("BENCH_URL", "http://127.0.0.1:8000"),
        oauth_clients_file=Path(clients) if clients else None,
        jwks_cooldown=float(os.environ.get("BENCH_JWKS_COOLDOWN", "60")),
        issuers_file=Path(os.environ["BENCH_ISSUERS_FILE"]),
        publishers_file=Path(os.environ["BENCH_PUBLISHERS_FILE"]),
        # The floor comparison keeps the file-only source (no database on the path); the
        # database source is measured against it by trust_bench.py.
        trust_source="toml",
        signing_key_files=(Path(os.environ["BENCH_SIGNING_KEY"]),),
        redis_url=os.environ["BENCH_REDIS_URL"],
        jwks_allow_loopback_http=True,
        # One loopback client, one publisher: limits high enough never to refuse, so the
        # load is measured with the cost of counting it, not shed.
        rate_limit_mint_ip=Rate(10**9, 60),
        rate_limit_mint_publisher=Rate(10**9, 60),
    )
    return settled(create_mintgate(settings))  # as service.asgi.app_from_env does
