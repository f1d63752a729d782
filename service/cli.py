"""mintgate serve | keygen | check."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from service.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mintgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (settings from MINTGATE_* variables)")
    commands.add_parser("check", help="load settings, issuers, publishers and keys, then exit")
    keygen = commands.add_parser("keygen", help="write a new P-256 signing key as PEM")
    keygen.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "keygen":
        return _keygen(args.path)
    try:
        settings = Settings.from_env()
        from service.app import create_app

        app = create_app(settings)
    except (SettingsError, ValueError) as exc:
        print(f"mintgate: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print("mintgate: configuration is valid")
        return 0
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


def _keygen(path: Path) -> int:
    from service.minting.keys import generate_pem

    if path.exists():
        print(f"mintgate: {path} exists; refusing to overwrite a key", file=sys.stderr)
        return 2
    path.touch(mode=0o600)
    path.write_bytes(generate_pem())
    print(f"mintgate: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
