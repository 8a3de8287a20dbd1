"""Real faults for the postgres backends (CONTRACT §6), each run against a write in flight.

Each needs the write caught mid-transaction, and gets that deterministically: a second
session holds a SHARE lock on the store's table, so the write (after any staging COPY) queues
behind it, and the fault strikes while it waits. ``crash_server`` alternates that with a race,
so that writes acknowledged just before the crash also meet WAL recovery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg import sql
from umi_dst.backends.postgres.server import Server
from umi_dst.backends.postgres.store import PostgresVectorBackend

from umi_dst.contract import WriteCall


class StoreOnServer(Protocol):
    """What a fault needs of a store: its server and its table (the factory is one)."""

    server: Server

    @property
    def table(self) -> sql.Identifier: ...


_POLL_SECONDS = 0.001
_WAIT_SECONDS = 30.0
STATEMENT_TIMEOUT_MS = 20
"""Short: the lock holds the write for as long as it takes, so the timeout alone sets how long a
strike lasts, and a long one made it the costliest fault of a case. A batch whose staging ``COPY`` runs
longer is cancelled there instead, before it reaches the lock: the same outcome, nothing written."""


class NemesisFailed(RuntimeError):
    """The fault could not be brought about as intended (the write never got in flight)."""


class _Write(threading.Thread):
    """A write running on its own thread, so that the fault can strike while it is in flight."""

    def __init__(self, backend: PostgresVectorBackend, call: WriteCall) -> None:
        super().__init__(name=f"umi-dst-{call.method}", daemon=True)
        self.backend, self.call = backend, call
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.call.apply(self.backend)
        except BaseException as exc:  # handed to the caller's thread by ``outcome``
            self.error = exc

    def outcome(self) -> None:
        self.join(_WAIT_SECONDS)
        if self.is_alive():
            raise NemesisFailed(f"{self.call.method} still running {_WAIT_SECONDS}s after the fault")
        if self.error is not None:
            raise self.error


def _wait_for(condition: Callable[[], bool], write: _Write) -> bool:
    """Poll until ``condition`` holds (True) or the write has finished (False)."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while write.is_alive():
        if condition():
            return True
        if time.monotonic() > deadline:
            raise NemesisFailed(f"{write.call.method} was never seen in flight")
        time.sleep(_POLL_SECONDS)
    return False


@contextmanager
def _table_locked(factory: StoreOnServer) -> Iterator[psycopg.Connection]:
    """A second session holding a SHARE lock on the store's table: writers queue behind it.
    Taking the lock waits at most ``_WAIT_SECONDS`` (a transaction left open would otherwise
    hold it off forever, the struck write with it)."""
    blocker = factory.server.connect()
    try:
        blocker.execute(sql.SQL("SET lock_timeout = {}").format(int(_WAIT_SECONDS * 1000)))
        blocker.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(factory.table))
        yield blocker
    finally:
        blocker.close()  # ends the transaction, so releases the lock; quiet even after a crash


def _waits_for_lock(blocker: psycopg.Connection, pid: int) -> Callable[[], bool]:
    def check() -> bool:
        return blocker.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,)
        ).fetchone()[0]

    return check


@dataclass
class TerminateConnection:
    """``pg_terminate_backend`` on the backend's session, from another, while its write waits."""

    factory: StoreOnServer
    name: str = "terminate_connection"

    def disturb(self, backend: PostgresVectorBackend, call: WriteCall) -> None:
        pid = backend.connection.info.backend_pid
        with _table_locked(self.factory) as blocker:
            write = _Write(backend, call)
            write.start()
            if _wait_for(_waits_for_lock(blocker, pid), write):
                blocker.execute("SELECT pg_terminate_backend(%s)", (pid,))
        write.outcome()

    def heal(self) -> None:
        """Nothing to undo: the harness continues on a new connection."""


@dataclass
class StatementTimeout:
    """A short ``statement_timeout`` cancels the write while it waits on a lock."""

    factory: StoreOnServer
    name: str = "statement_timeout"

    def disturb(self, backend: PostgresVectorBackend, call: WriteCall) -> None:
        with _table_locked(self.factory):
            backend.connection.execute(sql.SQL("SET statement_timeout = {}").format(STATEMENT_TIMEOUT_MS))
            try:
                call.apply(backend)
            finally:
                backend.connection.execute("RESET statement_timeout")

    def heal(self) -> None:
        """Nothing to undo: the timeout was reset on the same connection."""


@dataclass
class CrashServer:
    """Immediate shutdown of the server (no checkpoint) while a write is in flight.

    Turns alternate, so a run meets both kinds of crash: on even turns the write is held
    mid-transaction by a lock (it must vanish whole); on odd turns it races the crash, which
    strikes as soon as the write is seen running or right after it returns (a returned write
    must survive recovery). Turns restart with each factory, so a replay repeats them.
    """

    factory: StoreOnServer
    name: str = "crash_server"
    turns: int = 0
    cuts_off_other_connections = True  # every session dies with the server (parallel mode)

    def disturb(self, backend: PostgresVectorBackend, call: WriteCall) -> None:
        pid = backend.connection.info.backend_pid
        held = self.turns % 2 == 0
        self.turns += 1
        write = _Write(backend, call)
        try:
            if held:
                with _table_locked(self.factory) as blocker:
                    write.start()
                    _wait_for(_waits_for_lock(blocker, pid), write)
                    self.factory.server.crash()
            else:
                with self.factory.server.connect(autocommit=True) as monitor:
                    write.start()
                    _wait_for(_busy(monitor, pid), write)
                self.factory.server.crash()
            write.outcome()
        finally:
            self.factory.server.restart()

    def heal(self) -> None:
        self.factory.server.restart()


def _busy(monitor: psycopg.Connection, pid: int) -> Callable[[], bool]:
    def check() -> bool:
        row = monitor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        return row is not None and row[0] in ("active", "idle in transaction")

    return check
