"""mintgate for the registry-scale bench, for `uvicorn --factory scale_app:create_app`.

The real `create_app`: trusted publishers from the bench's PostgreSQL database
(the default) or from a TOML file (MINTGATE_TRUST_SOURCE=toml), Redis replay
protection, the JWKS cache fetching over loopback http. Equivalent
environment for `mintgate serve`: MINTGATE_ISSUERS_FILE,
MINTGATE_TRUST_SOURCE, MINTGATE_DATABASE_URL or MINTGATE_PUBLISHERS_FILE,
MINTGATE_SIGNING_KEY_FILES, MINTGATE_REDIS_URL, MINTGATE_LEEWAY,
MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP=1.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

from service.app import create_app as create_mintgate
from service.asgi import settled
from service.ratelimit import Rate
from service.settings import Settings


def create_app() -> Starlette:
    env = os.environ
    settings = Settings(
        url="http://127.0.0.1:8000",
        issuers_file=Path(env["BENCH_ISSUERS_FILE"]),
        trust_source=env["BENCH_TRUST_SOURCE"],
        database_url=env["BENCH_DATABASE_URL"],
        # On the database source the publishers are the database's (seeded), not a file's.
        publishers_file=(
            Path(env["BENCH_PUBLISHERS_FILE"]) if env["BENCH_TRUST_SOURCE"] == "toml" else None
        ),
        signing_key_files=(Path(env["BENCH_SIGNING_KEY"]),),
        redis_url=env["BENCH_REDIS_URL"],
        leeway=int(env["BENCH_LEEWAY"]),
        # on (the default): mint records ride the replay claim; off: group commit to SQL.
        mint_journal=env.get("BENCH_MINT_JOURNAL", "on") == "on",
        jwks_allow_loopback_http=True,
        # One loopback client, one publisher: limits that never refuse, so the load is
        # measured with the cost of counting it, not shed.
        rate_limit_mint_ip=Rate(10**9, 60),
        rate_limit_mint_publisher=Rate(10**9, 60),
    )
    # The heap settled as `mintgate serve`'s workers settle it (service.asgi.settled).
    return settled(create_mintgate(settings))
