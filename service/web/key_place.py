"""Where security keys work: WebAuthn binds a key to a host name (the RP id), and browsers
refuse it on an IP address such as 127.0.0.1, the address a first local try often uses.

The pages say so rather than offer a button that can only fail with the browser's
terse error. The configured RP id is known here; the address the browser used is
known for certain only to the browser, so static/app.js decides that half.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.requests import Request

from service.web.render import web


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def key_place(request: Request, path: str | None = None) -> dict[str, Any]:
    """The template data of macros.key_notice; `path` is the page to open at the right
    address (this one, unless it answers a POST)."""
    rp = web(request).api.rp
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "rp_id": rp.rp_id,
        "rp_is_ip": is_ip(rp.rp_id),
        "origin": rp.origin,
        "path": path or here,
    }
