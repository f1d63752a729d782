"""A publisher table in, a validated Publisher and what the store keeps of it out.

The table is the TOML-equivalent one (`provider`, `issuer`, the provider's
keys); validation is the TOML loader's own, so a publisher means the same
whether it came from config/ or from an owner through the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from service.issuers import Issuers
from service.publishers.base import ConfigError, Publisher
from service.store.records_publishing import PublisherSpec
from service.trust.toml import publisher_from_table

# A table is small configuration; a larger one is a mistake or an attack on storage.
MAX_TABLE_BYTES = 16 * 1024


def publisher_spec(table: Mapping[str, Any], issuers: Issuers) -> tuple[Publisher, PublisherSpec]:
    """Raises ConfigError naming the key."""
    publisher = publisher_from_table(table, issuers)
    # The issuer made explicit: a table relying on the provider's default and one
    # naming it are the same publisher, with the same fingerprint.
    config = {**table, "issuer": publisher.issuer}
    try:
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigError(
            "table", "expected only strings, numbers, booleans, lists and tables"
        ) from None
    if len(canonical) > MAX_TABLE_BYTES:
        raise ConfigError("table", f"at most {MAX_TABLE_BYTES} bytes as JSON")
    return publisher, PublisherSpec(
        provider=str(table["provider"]),
        issuer=publisher.issuer,
        lookup_key=publisher.lookup_key,
        identity=publisher.identity,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        config=json.loads(canonical),
    )


def rebuild(spec: PublisherSpec, issuers: Issuers, repository_id: str | None = None) -> Publisher:
    """A stored spec -> its Publisher; raises ConfigError when configuration moved on
    (issuer removed, preset changed): the caller skips that publisher, failing closed.

    `repository_id` is the pin a first mint recorded beside the table (GitHub only).
    """
    if repository_id is None:
        return publisher_from_table(spec.config, issuers)
    named = spec.config.get("repository_id")
    if spec.provider != "github" or (named is not None and str(named) != repository_id):
        # Only a GitHub table without its own id is ever pinned: anything else is a
        # row nobody wrote through this code, and trusts nothing.
        raise ConfigError("repository_id", f"pinned {repository_id!r} does not fit the table")
    return publisher_from_table({**spec.config, "repository_id": repository_id}, issuers)
