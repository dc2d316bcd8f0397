"""Storage: SQLAlchemy tables, Alembic migrations and repositories (SQLite and PostgreSQL).

::

    database.py   engines, write transactions, ping; migrate()
    schema.py     the tables          rows.py   rows → domain models
    admin.py      tenants, API keys, endpoints, subscriptions
    events.py     publish (event + fan-out), queries, replay
    work.py       the work protocol: claim, load, record, release; stale for the reconciler

``Store`` opens one database and holds one repository of each; a caller takes the one it
needs (``store.work`` for the worker, ``store.events`` for publishing, ...).
"""

from __future__ import annotations

from sqlalchemy import Engine

from harborctl.store.admin import AdminRepository
from harborctl.store.database import Database
from harborctl.store.events import EventRepository
from harborctl.store.work import WorkRepository

__all__ = ["Store"]


class Store:
    """The repositories over one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.admin = AdminRepository(database)
        self.events = EventRepository(database)
        self.work = WorkRepository(database)

    @classmethod
    def open(cls, url: str) -> Store:
        """Raises ConfigError for a URL that is not SQLite or PostgreSQL."""
        return cls(Database.open(url))

    @property
    def engine(self) -> Engine:
        """The writing engine (what ``migrate`` needs)."""
        return self.database.engine

    def ping(self) -> None:
        """Raises StoreError when the database does not answer."""
        self.database.ping()

    def dispose(self) -> None:
        self.database.dispose()
