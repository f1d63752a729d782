"""mintgate serve: run the service with settings from MINTGATE_* variables."""

from __future__ import annotations

import argparse
from typing import Any

from service.commands.common import load_app

NAME = "serve"
HELP = "run the service (settings from MINTGATE_* variables)"

# What each worker process imports; it rebuilds the app from the same MINTGATE_* variables.
APP_FACTORY = "service.asgi:app_from_env"

# Below Kubernetes' default terminationGracePeriodSeconds (30): in-flight mints finish, then
# the process exits before it would be killed.
GRACEFUL_SHUTDOWN = 20

# Worker processes are fresh interpreters that never run the CLI's logging.basicConfig:
# uvicorn applies this in each of them, in the same format.
WORKER_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
}


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Built here even with several workers, so a bad configuration (including
    # MINTGATE_WORKERS > 1 without shared keys and Redis) stops start-up with exit 2
    # before any worker is spawned.
    loaded = load_app()
    if loaded is None:
        return 2
    settings, app = loaded
    import uvicorn

    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "ssl_certfile": str(settings.tls_cert) if settings.tls_cert else None,
        "ssl_keyfile": str(settings.tls_key) if settings.tls_key else None,
        "proxy_headers": False,
        "access_log": False,  # the exchange logs every mint and refusal itself
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
    }
    if settings.workers == 1:
        uvicorn.run(app, log_config=None, **common)
    else:
        # uvicorn binds one socket in this process and its workers accept from it.
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            workers=settings.workers,
            log_config=WORKER_LOG_CONFIG,
            **common,
        )
    return 0
