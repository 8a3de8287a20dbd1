"""The script's side of ``crash_points``: the strike, and the count of a write's statements."""

import time
from contextlib import contextmanager

import psycopg

GONE_SQL = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)"
"""Whether a session is still there (the renderer sets it from ``crash_points``)."""


def terminate(url, pid):
    """pg_terminate_backend from another session, which waits until the session is gone."""
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while other.execute(GONE_SQL, (pid,)).fetchone()[0]:
            time.sleep(0.001)


class CountingConnection:
    """The connection, calling ``strike`` once ``k`` of its statements (executes and COPYs,
    through it or its cursors) have returned."""

    def __init__(self, connection, k, strike):
        self.connection, self.k, self.strike, self.returned = connection, k, strike, 0

    def __getattr__(self, name):
        return getattr(self.connection, name)

    def execute(self, *args, **kwargs):
        return self.counted(self.connection.execute(*args, **kwargs))

    def cursor(self, *args, **kwargs):
        return CountingCursor(self.connection.cursor(*args, **kwargs), self)

    def counted(self, result):
        self.returned += 1
        if self.returned == self.k:
            self.strike()
        return result


class CountingCursor:
    def __init__(self, cursor, owner):
        self.cursor, self.owner = cursor, owner

    def __getattr__(self, name):
        return getattr(self.cursor, name)

    def __enter__(self):
        self.cursor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.cursor.__exit__(*exc_info)

    def execute(self, *args, **kwargs):
        self.cursor.execute(*args, **kwargs)
        return self.owner.counted(self)

    def executemany(self, *args, **kwargs):
        self.owner.counted(self.cursor.executemany(*args, **kwargs))

    @contextmanager
    def copy(self, *args, **kwargs):
        with self.cursor.copy(*args, **kwargs) as copy:
            yield copy
        self.owner.counted(None)
