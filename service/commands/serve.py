"""mintgate serve: run the service with settings from MINTGATE_* variables."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType
from typing import Any

from service.commands import envhelp
from service.commands.common import load_app
from service.envparse import EnvReader, SettingsError
from service.observability.logs import (
    configure_logging,
    default_format,
    parse_log_format,
    worker_log_config,
)
from service.observability.metrics import multiprocess_directory

NAME = "serve"
HELP = "run the service: token exchange, web pages, API"

# What each worker process imports; it rebuilds the app from the same MINTGATE_* variables.
APP_FACTORY = "service.asgi:app_from_env"

# Below Kubernetes' default terminationGracePeriodSeconds (30): in-flight mints finish, then
# the process exits before it would be killed.
GRACEFUL_SHUTDOWN = 20


def configure(parser: argparse.ArgumentParser) -> None:
    envhelp.describe(parser, envhelp.service_variables(), 'README.md, "Configuration"')


def run(args: argparse.Namespace) -> int:
    # Built here even with several workers, so a bad configuration (including
    # MINTGATE_WORKERS > 1 without shared keys and Redis) stops start-up with exit 2
    # before any worker is spawned. Logging first, so building the app logs in its format.
    log_format = _log_format()
    configure_logging(log_format)
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
        # uvicorn finishes the requests in flight on SIGTERM, then raises SIGTERM again to
        # the handler it found at start: the default one would end the process with -15
        # after a clean stop. This one lets run() return, and the process exit 0.
        signal.signal(signal.SIGTERM, _stopped)
        uvicorn.run(app, log_config=None, **common)
    else:
        # uvicorn binds one socket in this process and its workers accept from it. Workers
        # are fresh interpreters: they inherit PROMETHEUS_MULTIPROC_DIR (so a scrape sums
        # every worker) and get the logging configuration as a dictConfig.
        with multiprocess_directory():
            uvicorn.run(
                APP_FACTORY,
                factory=True,
                workers=settings.workers,
                log_config=worker_log_config(log_format),
                **common,
            )
    return 0


def _stopped(signum: int, frame: FrameType | None) -> None:
    pass


def _log_format() -> str:
    # Read again by Settings.from_env, which reports a bad value; until then, the default.
    try:
        chosen = EnvReader(os.environ).get("LOG_FORMAT", parse_log_format, None)
    except SettingsError:
        chosen = None
    return chosen or default_format(sys.stderr)
