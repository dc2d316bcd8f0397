"""One database: its engines, its write transactions, and schema migration (SQLite and
PostgreSQL).

The repositories (``admin``, ``events``, ``work``) are written against ``Database``: reads
go through ``reader``, writes through ``write()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError

from harborctl.errors import ConfigError, StoreError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Store calls run in threads (asyncio.to_thread), one connection each: as many threads as
# pooled connections, and no overflow. Overflow connections are closed when given back, so
# a pool smaller than the threads opened and closed a PostgreSQL connection (a backend
# process) for almost every event under load. With group commit few threads are busy at once.
STORE_THREADS = 16
POOL_SIZE = STORE_THREADS
POOL_OVERFLOW = 0


class Database:
    """The engines of one database and the way to write to it.

    On SQLite they are two engines: writers take the database lock at BEGIN (and queue on a
    per-process lock first, so threads do not spin in SQLite's sleeping busy handler), while
    readers start deferred transactions that never block on writers (WAL). On PostgreSQL
    both are the same engine.
    """

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self._write_lock = None if self.is_postgres else threading.Lock()

    @classmethod
    def open(cls, url: str) -> Database:
        """Engines for ``url``; raises ConfigError for a URL that is not SQLite or PostgreSQL."""
        engine = make_engine(url)
        reader = make_engine(url, readonly=True) if engine.dialect.name == "sqlite" else None
        return cls(engine, reader)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        A database that cannot be reached raises StoreError (the ingest answers 503 with
        Retry-After); constraint violations (IntegrityError) pass through to the caller.
        """
        with _unavailable_as_store_error():
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    yield conn
                return
            with self._write_lock, self.engine.begin() as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (never blocked by writers on SQLite); StoreError when the
        database cannot be reached."""
        with _unavailable_as_store_error(), self.reader.connect() as conn:
            yield conn

    def ping(self) -> None:
        """Raises StoreError when the database does not answer."""
        try:
            with self.reader.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:  # not a DBAPI error (those are StoreError already)
            raise StoreError(f"database unreachable: {exc}") from exc


@contextmanager
def _unavailable_as_store_error() -> Iterator[None]:
    """The driver's "cannot talk to the database" errors as the project's StoreError."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise StoreError(f"database unavailable: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def use_store_threads() -> None:
    """Size the running loop's default executor so store calls are not queued behind 6."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    executor = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="store")
    asyncio.get_running_loop().set_default_executor(executor)


def normalise_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine for ``url``; ``readonly`` SQLite engines never take the write lock."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("database_url", f"not a database URL: {exc}") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        # no pre-ping: it costs a round trip per checkout; recycle instead, and a connection
        # broken by a server restart fails one operation, which callers retry
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_recycle=1800)
    else:
        raise ConfigError("database_url", "only sqlite:// and postgresql:// are supported")
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "handle_error", _unavailable)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # writers take the lock at BEGIN so they queue instead of failing to upgrade a read
        # lock mid-transaction; readers use deferred transactions and never wait on writers
        begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        if readonly:
            event.listen(engine, "connect", _sqlite_query_only)
    return engine


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _unavailable(context: ExceptionContext) -> None:
    """The database not answering is a StoreError, on every engine and call.

    Refused or dropped connections, a server shutting down, SQLite still locked after its
    busy timeout (overload): SQLAlchemy's OperationalError and InterfaceError, and whatever
    it judges a disconnect. The message is the driver's first line (no SQL, no parameters).
    Everything else (constraint violations the repositories handle, bugs) passes unchanged.
    SQLAlchemy still invalidates a broken connection after this listener raises.
    """
    error = context.sqlalchemy_exception
    if context.is_disconnect or isinstance(error, (OperationalError, InterfaceError)):
        cause = context.original_exception
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise StoreError(f"database unavailable: {reason}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# waiting at start for a database server that does not answer: 0.5 s, doubling, 5 s apart at most
STARTUP_RETRY_FIRST_SECONDS = 0.5
STARTUP_RETRY_MAX_SECONDS = 5.0


def startup_retry_delays(url: str) -> Iterator[float]:
    """Seconds to wait before each new start-up attempt after a StoreError (``STARTUP_RETRY_*``).

    Endless for a database behind a server (PostgreSQL), which can be down for a while and
    come back: a process starting waits for it, since a supervisor gives up on a program that
    keeps dying at start. None at all for a SQLite file: an error there is a configuration to
    fix, not an outage to wait out, so the first one is final.
    """
    if make_url(normalise_url(url)).get_backend_name() == "sqlite":
        return
    wait = STARTUP_RETRY_FIRST_SECONDS
    while True:
        yield wait
        wait = min(wait * 2, STARTUP_RETRY_MAX_SECONDS)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating the database failed: {exc}") from exc


def migrate_when_reachable(
    engine: Engine, database_url: str, pause: Callable[[float], bool]
) -> bool:
    """:func:`migrate`, waiting while the database does not answer (a StoreError), by the
    ``startup_retry_delays`` schedule: what a process does at start, so that a supervisor
    restarting it during a database outage does not give up on it.

    ``pause(seconds)`` waits that long, or less when the process is asked to stop, and
    says whether it was asked. Returns True once migrated, False when asked to stop before
    the database answered; raises the StoreError when the schedule has no more waits (at
    once for a SQLite file).
    """
    delays = startup_retry_delays(database_url)
    while True:
        try:
            migrate(engine)
            return True
        except StoreError as exc:
            wait = next(delays, None)
            if wait is None:
                raise
            log.warning("database not answering at start (%s); again in %.1f s", exc, wait)
        if pause(wait):
            return False
