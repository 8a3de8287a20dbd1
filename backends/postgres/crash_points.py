"""PostgreSQL faults placed at named points of a write, each with the one outcome it must have.

The points are where the client stands, so each is reached exactly, with no timer:

- ``before_statement``: the fault strikes before the write is sent (the write then fails): old;
- ``before_commit``: the write's statements ran inside a transaction that is not committed yet:
  old;
- ``mid_copy``: a batch written by ``COPY`` has streamed k rows (the client decides how many it
  sends, so this is exact); a write without ``COPY`` is struck before its commit instead: old;
- ``after_commit``: the write returned; the fault strikes after: new (acknowledged is durable);
- ``after_statements``: the write's first k statements have returned (k=0: before the first; a
  write with fewer is struck when it returns), inside whatever transactions the backend itself
  opens: all-old or all-new, never a mix (new if the write returned). The three points above
  wrap the write in one transaction so as to stand before its commit; this one does not, so a
  backend that commits a batch in pieces shows the pieces.

The faults: ``crash_server`` (immediate shutdown, then restart and WAL recovery) and
``terminate_connection`` (``pg_terminate_backend`` from another session, waiting until the
session is gone) at any of the points; ``statement_timeout`` at ``in_statement``, the write's
statement held by a lock until a short ``statement_timeout`` cancels it: old. A step without a
crash point runs the timed original of each nemesis (``nemeses``).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.copy import LibpqWriter
from umi_dst.backends.postgres.nemeses import (
    CrashServer,
    NemesisFailed,
    StatementTimeout,
    StoreOnServer,
    TerminateConnection,
)
from umi_dst.backends.postgres.store import PostgresVectorBackend

from umi_dst.contract import Nemesis, WriteCall
from umi_dst.operations import CrashPoint

BEFORE_STATEMENT = "before_statement"
BEFORE_COMMIT = "before_commit"
MID_COPY = "mid_copy"
AFTER_COMMIT = "after_commit"
AFTER_STATEMENTS = "after_statements"
IN_STATEMENT = "in_statement"
WRITE_POINTS = (BEFORE_STATEMENT, BEFORE_COMMIT, MID_COPY, AFTER_COMMIT, AFTER_STATEMENTS)
EXPECTED = {
    BEFORE_STATEMENT: "old",
    BEFORE_COMMIT: "old",
    MID_COPY: "old",
    AFTER_COMMIT: "new",
    AFTER_STATEMENTS: None,
    IN_STATEMENT: "old",
}
"""The exact state a fresh connection must read after the fault at each point (``None``: either,
as the backend's own transactions decide; never a mix)."""
T = TypeVar("T")
GONE_SQL = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)"
"""Whether a session is still there. Its entry goes after its transaction is rolled back, so
once it is gone, so is anything the write left uncommitted."""
_GONE_POLL_SECONDS = 0.001
_GONE_WAIT_SECONDS = 10.0
PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def run_at(backend: PostgresVectorBackend, call: WriteCall, at: CrashPoint, strike: Callable[[], None]) -> None:
    """Perform ``call`` with ``strike`` placed at ``at``; raises what the cut-off write raised."""
    if at.point == BEFORE_STATEMENT:
        strike()
        call.apply(backend)
    elif at.point == AFTER_COMMIT:
        call.apply(backend)
        strike()
    elif at.point == AFTER_STATEMENTS:
        counting = _CountingConnection(backend.connection, at.k, strike)
        if at.k == 0:
            strike()
        backend.connection = counting
        try:
            call.apply(backend)
        finally:
            backend.connection = counting.connection
        if counting.returned < at.k:
            strike()
    elif at.point in (BEFORE_COMMIT, MID_COPY):
        struck = []

        def strike_once() -> None:
            struck.append(True)
            strike()

        with backend.connection.transaction():
            if at.point == MID_COPY:
                copy_into = backend._copy_into
                backend._copy_into = lambda cursor, table, rows: copy_into(
                    _StrikingCursor(cursor, at.k, strike_once), table, rows
                )
            try:
                call.apply(backend)
            finally:
                backend.__dict__.pop("_copy_into", None)
            if not struck:  # a write without COPY is struck before its commit
                strike_once()
    else:
        raise ValueError(f"unknown crash point {at.point!r}; expected one of {WRITE_POINTS}")


@dataclass
class _StrikingCursor:
    """A cursor whose ``COPY`` sends the first ``k`` rows, strikes, then sends the rest."""

    cursor: psycopg.Cursor
    k: int
    strike: Callable[[], None]

    def copy(self, statement: sql.Composable) -> _StrikingCopy:
        return _StrikingCopy(self.cursor.copy(statement, writer=LibpqWriter(self.cursor, flush_threshold=0)), self)


@dataclass
class _StrikingCopy:
    copy: psycopg.Copy
    cursor: _StrikingCursor

    def __enter__(self) -> _StrikingCopy:
        self.copy.__enter__()
        self._data: list[bytes] = []
        return self

    def write(self, data: bytes) -> None:
        self._data.append(bytes(data))

    def __exit__(self, *exc_info) -> None:
        """Always closes the inner copy: it holds the connection's lock until closed, so a
        strike that raises here would otherwise leave the next statement waiting forever."""
        if exc_info[0] is None:
            try:
                data = b"".join(self._data)
                cut = _row_offset(data, self.cursor.k)
                self.copy.write(data[:cut])  # flushed to the server before the fault strikes
                self.cursor.strike()
                self.copy.write(data[cut:])
            except BaseException as error:
                self.copy.__exit__(type(error), error, error.__traceback__)
                raise
        self.copy.__exit__(*exc_info)


@dataclass
class _CountingConnection:
    """Stands in for a backend's connection and strikes once ``k`` of its statements (executes
    and ``COPY``s, through the connection or its cursors) have returned."""

    connection: psycopg.Connection
    k: int
    strike: Callable[[], None]
    returned: int = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.connection, name)

    def execute(self, *args, **kwargs) -> psycopg.Cursor:
        return self.counted(self.connection.execute(*args, **kwargs))

    def cursor(self, *args, **kwargs) -> _CountingCursor:
        return _CountingCursor(self.connection.cursor(*args, **kwargs), self)

    def counted(self, result: T) -> T:
        self.returned += 1
        if self.returned == self.k:
            self.strike()
        return result


@dataclass
class _CountingCursor:
    cursor: psycopg.Cursor
    owner: _CountingConnection

    def __getattr__(self, name: str) -> object:
        return getattr(self.cursor, name)

    def __enter__(self) -> _CountingCursor:
        self.cursor.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.cursor.__exit__(*exc_info)

    def execute(self, *args, **kwargs) -> _CountingCursor:
        self.cursor.execute(*args, **kwargs)
        return self.owner.counted(self)

    def executemany(self, *args, **kwargs) -> None:
        self.owner.counted(self.cursor.executemany(*args, **kwargs))

    @contextmanager
    def copy(self, *args, **kwargs) -> Iterator[psycopg.Copy]:
        with self.cursor.copy(*args, **kwargs) as copy:
            yield copy
        self.owner.counted(None)


def _row_offset(data: bytes, k: int) -> int:
    """Byte offset of the end of the first ``k`` rows of binary ``COPY`` data."""
    offset = len(PGCOPY_SIGNATURE) + 8 + struct.unpack_from(">i", data, len(PGCOPY_SIGNATURE) + 4)[0]
    for _ in range(k):
        (fields,) = struct.unpack_from(">h", data, offset)
        if fields == -1:  # the trailer: fewer than k rows
            break
        offset += 2
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", data, offset)
            offset += 4 + max(length, 0)
    return offset


@dataclass
class CrashServerAt(CrashServer):
    """``crash_server`` at a named point of the write; restarted (WAL recovery) by ``heal``."""

    points: tuple[str, ...] = WRITE_POINTS

    def expected(self, at: CrashPoint) -> str | None:
        return EXPECTED[at.point]

    def strike(self, backend: PostgresVectorBackend, call: WriteCall, at: CrashPoint) -> None:
        try:
            run_at(backend, call, at, self.factory.server.crash)
        finally:
            self.factory.server.restart()


@dataclass
class TerminateConnectionAt(TerminateConnection):
    """``terminate_connection`` at a named point: the session is gone before the write goes on."""

    points: tuple[str, ...] = WRITE_POINTS

    def expected(self, at: CrashPoint) -> str | None:
        return EXPECTED[at.point]

    def strike(self, backend: PostgresVectorBackend, call: WriteCall, at: CrashPoint) -> None:
        pid = backend.connection.info.backend_pid

        def terminate() -> None:
            with self.factory.server.connect(autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))
                _wait_until_gone(other, pid)

        run_at(backend, call, at, terminate)


@dataclass
class StatementTimeoutAt(StatementTimeout):
    """``statement_timeout`` cancelling the write's statement, held by a lock (``in_statement``)."""

    points: tuple[str, ...] = (IN_STATEMENT,)

    def expected(self, at: CrashPoint) -> str | None:
        return EXPECTED[at.point]

    def strike(self, backend: PostgresVectorBackend, call: WriteCall, at: CrashPoint) -> None:
        if at.point != IN_STATEMENT:
            raise ValueError(f"unknown crash point {at.point!r} for {self.name}; expected {IN_STATEMENT!r}")
        self.disturb(backend, call)


def _wait_until_gone(other: psycopg.Connection, pid: int) -> None:
    """Poll every millisecond until the session ``pid`` has exited: ``pg_terminate_backend``'s
    own wait polls far more coarsely, and each strike would wait out its step."""
    deadline = time.monotonic() + _GONE_WAIT_SECONDS
    while other.execute(GONE_SQL, (pid,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise NemesisFailed(f"session {pid} still there {_GONE_WAIT_SECONDS}s after pg_terminate_backend")
        time.sleep(_GONE_POLL_SECONDS)


def nemeses_for(factory: StoreOnServer) -> Mapping[str, Nemesis]:
    """The faults a factory offers, each placed at named points (crashing only a server this
    process owns)."""
    offered: list[Nemesis] = [TerminateConnectionAt(factory), StatementTimeoutAt(factory)]
    if factory.server.owned:
        offered.append(CrashServerAt(factory))
    return {nemesis.name: nemesis for nemesis in offered}
