"""Container health check: exit 0 when this container's mintgate answers /healthz with 200.

Standard library only (the slim image has no curl). Run by the image's HEALTHCHECK and by
compose; it asks the loopback address on MINTGATE_PORT, over https when MINTGATE_TLS_CERT
is set. `healthcheck.py gateway` asks `mintgate gateway` on MINTGATE_GATEWAY_PORT instead
(plain http: TLS is the proxy's).
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main(argv: list[str]) -> int:
    gateway = argv[1:] == ["gateway"]
    if gateway:
        port = os.environ.get("MINTGATE_GATEWAY_PORT") or "8100"
        tls = False
    else:
        port = os.environ.get("MINTGATE_PORT") or "8000"
        tls = bool(os.environ.get("MINTGATE_TLS_CERT"))
    context = None
    if tls:
        # Liveness of our own process on loopback: the certificate names the public host,
        # not 127.0.0.1, and proving it is not this check's job.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
