"""A PostgreSQL cluster of HarborHook's own: where it lives, how it is initialised and run.

One implementation for everything that runs a throwaway cluster: the native stack
(``harborctl up --database postgres``, under supervisord), ``harborctl bench --start`` and the
test fixtures. The argv is decided here (pure); initdb, ownership and the connection checks
are the I/O around it.

PostgreSQL refuses to run as root. Under root, initdb and the server run as the ``postgres``
OS user (the stack's program is ``runuser -u postgres -- postgres ...``), so the cluster's
directory must be owned by that user, and every directory above it must be searchable by it.
A state dir under ``/root`` (mode 0700) is not: the stack's cluster then lives in
``/var/tmp/harborhook-postgres-<id>`` and ``<state_dir>/postgres`` is a link to it
(:func:`stack_cluster_home`).

The server listens on 127.0.0.1 only, with no Unix socket (its path length would depend on
the state dir), and trusts local connections (``-A trust``): a development and benchmark
cluster, never a production one (point ``database_url`` at your own PostgreSQL for that).
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harborctl.errors import StackError
from harborctl.layout import StateLayout

LOOPBACK = "127.0.0.1"
POSTGRES_OS_USER = "postgres"
SUPERUSER = "postgres"
# where Debian's postgresql packages put initdb and postgres, one directory per major version
DEBIAN_PREFIX = Path("/usr/lib/postgresql")
# a stack's cluster when the postgres OS user cannot reach the state dir (survives reboots)
FALLBACK_PARENT = Path("/var/tmp")
FALLBACK_PREFIX = "harborhook-postgres-"
INSTALL_HINT = "install PostgreSQL (scripts/bootstrap installs the Debian package postgresql)"
RUNUSER = "runuser"


def postgres_bin_dir(extra_dirs: Sequence[str] = ()) -> Path:
    """The directory holding ``initdb`` and ``postgres``: the newest Debian major version
    first, then ``initdb`` on PATH (and ``extra_dirs``). Raises StackError when none has both."""
    candidates = sorted(
        DEBIAN_PREFIX.glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    search = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    found = shutil.which("initdb", path=search)
    if found:
        candidates.append(Path(found).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise StackError(f"PostgreSQL is not installed (no initdb and postgres found): {INSTALL_HINT}")


def postgres_os_user() -> str | None:
    """The OS user to run PostgreSQL as: ``postgres`` under root, else ourselves (None)."""
    return POSTGRES_OS_USER if os.geteuid() == 0 else None


def user_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of an OS user; StackError when there is no such user."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root and there is no {user!r} OS user to run it as: "
            f"{INSTALL_HINT} (the package creates the user)"
        ) from None
    return entry.pw_uid, entry.pw_gid


def can_reach(path: Path, user: str) -> bool:
    """True when ``user`` may search every existing directory from ``/`` down to ``path``
    (mode bits only: an ACL that would allow it is not looked at, so the answer errs on no)."""
    uid, gid = user_ids(user)
    groups = {gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    current = Path(path).absolute()
    for directory in [*reversed(current.parents), current]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            break  # created by us later with the usual 0755
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def stack_cluster_home(layout: StateLayout, os_user: str | None) -> Path:
    """Where the stack's cluster lives: ``<state_dir>/postgres`` when ``os_user`` can reach
    it, else ``/var/tmp/harborhook-postgres-<id>`` (``<id>`` from the state dir's path)."""
    if os_user is None or can_reach(layout.root, os_user):
        return layout.postgres_dir
    digest = hashlib.sha256(str(layout.root).encode()).hexdigest()[:16]
    return FALLBACK_PARENT / f"{FALLBACK_PREFIX}{digest}"


def remove_stack_cluster(layout: StateLayout) -> None:
    """Delete the stack's cluster (data and all) and the link to it; the stack must be down."""
    link = layout.postgres_dir
    if link.is_symlink():
        target = link.resolve()
        link.unlink()
        if target.name.startswith(FALLBACK_PREFIX):
            shutil.rmtree(target, ignore_errors=True)
    else:
        shutil.rmtree(link, ignore_errors=True)


@dataclass(frozen=True)
class PostgresCluster:
    """One cluster: ``home`` (owned by ``os_user``) holds ``data/`` and ``postgres.log``.

    ``durable=False`` switches fsync, synchronous commit and full-page writes off (tests,
    whose data is thrown away); the stack keeps PostgreSQL's defaults, so commits cost what
    they cost in production.
    """

    bin_dir: Path
    home: Path
    port: int
    os_user: str | None
    durable: bool = True
    max_connections: int = 100
    host: str = LOOPBACK

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        """initdb's output (the server's goes wherever its runner sends it)."""
        return self.home / "initdb.log"

    # ----- commands (pure)

    def initdb_argv(self) -> tuple[str, ...]:
        return (
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-A", "trust",
            "-U", SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip

    def server_argv(self) -> tuple[str, ...]:
        """The postmaster in the foreground (its runner supervises it; SIGINT is a fast
        shutdown, SIGTERM waits for clients to leave)."""
        settings = [
            f"listen_addresses={self.host}",
            "unix_socket_directories=",
            f"max_connections={self.max_connections}",
        ]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        options = [part for setting in settings for part in ("-c", setting)]
        return (str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                *options)  # fmt: skip

    def supervised_command(self) -> tuple[str, ...]:
        """``server_argv`` as the OS user, for a supervisor running as root (``runuser``)."""
        if self.os_user is None:
            return self.server_argv()
        runuser = shutil.which(RUNUSER) or f"/usr/sbin/{RUNUSER}"
        return (runuser, "-u", self.os_user, "--", *self.server_argv())

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string, for ``psycopg.connect``."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL with the psycopg 3 driver."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    # ----- files (I/O)

    def prepare(self) -> None:
        """Create ``home`` owned by the OS user (0700) and run initdb once.

        Raises StackError with initdb's output when it fails.
        """
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.os_user is not None:
            uid, gid = user_ids(self.os_user)
            os.chown(self.home, uid, gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        ids: tuple[int | None, int | None] = (None, None)
        if self.os_user is not None:
            ids = user_ids(self.os_user)
        with self.log_file.open("ab") as log:
            completed = subprocess.run(
                self.initdb_argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                user=ids[0],
                group=ids[1],
            )
        if completed.returncode != 0:
            tail = self.log_file.read_text(errors="replace").splitlines()[-15:]
            raise StackError(
                f"initdb exited with code {completed.returncode} ({self.log_file}):\n"
                + "\n".join(tail)
            )

    # ----- the running server (I/O)

    def accepts_connections(self, timeout: float = 2.0) -> bool:
        """True when ``select 1`` answers on the ``postgres`` database."""
        import psycopg

        try:
            with psycopg.connect(self.conninfo(), connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def create_database(self, dbname: str, *, exist_ok: bool = False) -> bool:
        """CREATE DATABASE; returns False when it existed and ``exist_ok``."""
        import psycopg

        try:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                if exist_ok:
                    found = conn.execute(
                        "select 1 from pg_database where datname = %s", (dbname,)
                    ).fetchone()
                    if found:
                        return False
                conn.execute(f'CREATE DATABASE "{_identifier(dbname)}"')
        except psycopg.Error as exc:
            raise StackError(f"creating database {dbname!r} failed: {exc}") from exc
        return True

    def drop_database(self, dbname: str) -> None:
        """Drop ``dbname`` even when clients are still connected (PostgreSQL 13+)."""
        import psycopg

        try:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{_identifier(dbname)}" WITH (FORCE)')
        except psycopg.Error as exc:
            raise StackError(f"dropping database {dbname!r} failed: {exc}") from exc


def _identifier(name: str) -> str:
    if not name or '"' in name or "\0" in name:
        raise StackError(f"{name!r} cannot be a database name here")
    return name


def link_home(layout: StateLayout, home: Path) -> None:
    """Make ``<state_dir>/postgres`` lead to ``home`` (a link when it lives elsewhere)."""
    link = layout.postgres_dir
    if home == link:
        return
    with contextlib.suppress(FileNotFoundError):
        if link.is_symlink() and link.resolve() == home.resolve():
            return
        if link.is_symlink():
            link.unlink()
    if link.exists():
        raise StackError(f"{link} exists and is not the link to the cluster in {home}")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(home, target_is_directory=True)
