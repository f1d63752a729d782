"""Ask the service for its audience, fetch the CI credential for it, trade it for a token."""

from __future__ import annotations

import httpx

from service.client.ambient import Detector, ambient_credential
from service.client.api import Minted, base_url, get_audience, mint_token
from service.client.outcome import Failure


def exchange(client: httpx.Client, url: str, detect: Detector | None = None) -> Minted | Failure:
    base = base_url(url)
    if isinstance(base, Failure):
        return base
    # The service names its audience, so one workflow works against any deployment.
    audience = get_audience(client, base)
    if isinstance(audience, Failure):
        return audience
    credential = ambient_credential(audience, detect)
    if isinstance(credential, Failure):
        return credential
    return mint_token(client, base, credential)
