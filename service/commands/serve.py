"""mintgate serve: run the service with settings from MINTGATE_* variables."""

from __future__ import annotations

import argparse

from service.commands.common import load_app

NAME = "serve"
HELP = "run the service (settings from MINTGATE_* variables)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    loaded = load_app()
    if loaded is None:
        return 2
    settings, app = loaded
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=False,
        access_log=False,  # the exchange logs every mint and refusal itself
        server_header=False,
        log_config=None,
    )
    return 0
