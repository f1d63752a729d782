"""GitHub secret-scanning partner endpoint: leaked tokens reported, verified, revoked.

keys.py      GitHub's public key document -> {key_identifier: P-256 key}
fetch.py     HttpPublicKeyFetcher: one https GET, capped, no redirects, conditional
cache.py     PublicKeyCache: TTL, single flight, unknown-id cooldown, stale-if-error
signature.py the request's ECDSA signature over the raw body
reports.py   the signed body -> Report values (shape and limits)
revokers.py  TokenRevoker protocol; MintedTokenRevoker for `mintgate_` tokens
partner.py   GitHubPartner: the one orchestration, labels or a refusal
"""
