"""API tokens: the fallback credential, as biscuits a holder can narrow offline.

keys.py       the root Ed25519 key pair (PEM file, or ephemeral with a warning)
format.py     `mgapi_` + biscuit + `_` + CRC32 checksum: what secret scanners look for
schema.py     the Datalog vocabulary every other module speaks, in one place
issue.py      issue(root, grant, now): the authority block, signed with the root key
attenuate.py  attenuate(token, projects, expires): append a restricting block, offline
authorize.py  the pure check: signature, expiry, project scope, with an injected `now`
status.py     protocols for what needs state: revocation, 2FA, maintainers, project policy
verify.py     ApiTokenVerifier: authorize, then ask the protocols; VerifiedApiToken | Refusal
explain.py    decode and describe a token without verifying it (`mintgate token inspect`)

Storage is not here: a store implements the protocols in status.py.
"""
