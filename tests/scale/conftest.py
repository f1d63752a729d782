from store.store_fixtures import database, postgres

__all__ = ["database", "postgres"]
