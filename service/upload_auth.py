"""One call for the gateway: is this token, of either kind, good for an upload here?

The prefix picks the verifier (`mintgate_`: minted by trusted publishing,
`mgapi_`: an API token); both answer with the same Refusal shape, so the
caller renders one kind of error whatever the token was.
"""

from __future__ import annotations

from service.apitokens import format as api_format
from service.apitokens.verify import ApiTokenVerifier, VerifiedApiToken
from service.minting import tokens as minted_format
from service.publishers.base import INVALID_TOKEN, Refusal
from service.verifier import VerifiedToken, Verifier

UploadCredential = VerifiedToken | VerifiedApiToken


async def verify_upload_token(
    token: str, project: str, *, minted: Verifier, api: ApiTokenVerifier | None
) -> UploadCredential | Refusal:
    """`api` None: API tokens are not accepted here (refused, never passed to `minted`)."""
    if token.startswith(minted_format.PREFIX):
        return await minted.verify(token, project)
    if token.startswith(api_format.PREFIX):
        if api is None:
            return Refusal(
                INVALID_TOKEN, "API tokens are not accepted here; use trusted publishing"
            )
        return await api.verify(token, project)
    return Refusal(
        INVALID_TOKEN,
        f"not a mintgate token: expected {minted_format.PREFIX}... (trusted publishing)"
        f" or {api_format.PREFIX}... (API token)",
    )
