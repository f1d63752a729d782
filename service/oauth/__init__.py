"""OAuth 2.0 surfaces for registries: introspection, revocation, token exchange.

`clients` says who may call introspection and revocation, `narrowing` is the
pure rule for RFC 8693 exchange (never widen), `authority` runs them against
the service's own keys and the revocation store.
"""
