"""The catalog: metadata in SQLite or PostgreSQL (SQLAlchemy Core, Alembic migrations).

No other layer imports SQLAlchemy; everything leaves here as a domain object.
"""

from cargohold.catalog.versions import Catalog

__all__ = ["Catalog"]
