"""Storage: the Store protocol the service receives, and its SQL implementation."""

from service.store.base import (
    AuditEvent,
    AuditRecord,
    Duplicate,
    NameTaken,
    Store,
    StoreError,
    TotpRecord,
    Transaction,
    UsernameTaken,
    UserRecord,
)
from service.store.sql import SqlStore, open_store

__all__ = [
    "AuditEvent",
    "AuditRecord",
    "Duplicate",
    "NameTaken",
    "SqlStore",
    "Store",
    "StoreError",
    "TotpRecord",
    "Transaction",
    "UserRecord",
    "UsernameTaken",
    "open_store",
]
