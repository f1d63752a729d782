from store.store_fixtures import database, pg_store, postgres, store

__all__ = ["database", "pg_store", "postgres", "store"]
