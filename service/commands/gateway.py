"""mintgate gateway: run the upload gateway with settings from MINTGATE_GATEWAY_* variables."""

from __future__ import annotations

import argparse
import sys

from service.commands import envhelp

NAME = "gateway"
HELP = "run the upload gateway in front of a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    envhelp.describe(parser, envhelp.gateway_variables(), 'README.md, "Upload gateway"')


def run(args: argparse.Namespace) -> int:
    from service.gateway import GatewaySettings, create_gateway
    from service.settings import SettingsError

    try:
        settings = GatewaySettings.from_env()
        app = create_gateway(settings)
    except SettingsError as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        # The access log would print nothing secret, but the gateway logs every
        # decision with the project and the reason itself.
        access_log=False,
        server_header=False,
        log_config=None,
    )
    return 0
