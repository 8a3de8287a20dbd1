"""Deterministic turns for the clients of a simulated store: the same program, the same interleaving.

Real engines are raced by real threads, and which interleavings a run reaches is the machine's
luck. A simulated store (the planted concurrency bugs of ``umi_dst.selftest``) can do better, as
deterministic simulators do: it declares ``turns`` on its factory, and the parallel mode then runs
its thread clients one at a time. A client holds the turn from its start until the store hands it
on at a point the store names (``pause``: a network round trip, a write's window between two
commits), and the turn goes round the clients still running in index order. So every call's
invocation, every step inside the store and every completion happen in an order fixed by the
program, and so does the verdict: a planted race whose window a second client's call must fall
into is found on every run, never missed because the scheduler ran the threads one after another.

Outside a scheduled run (the sequential harness, a fresh reader, an exported script's free
threads) ``pause`` sleeps for the time the store simulates, so free threads race as before.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class Turns:
    """Who of a run's clients may run now; one instance per simulated store."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: list[int] = []
        """Clients of the current run that have not finished, in turn order."""
        self._holder: int | None = None
        self._in_window: set[int] = set()
        """Clients waiting in ``pause_until`` for another client's call."""
        self._local = threading.local()

    @contextlib.contextmanager
    def run(self, clients: int) -> Iterator[None]:
        """A scheduled run of clients ``0 .. clients - 1``; client 0 has the first turn."""
        with self._changed:
            if self._running:
                raise RuntimeError("a scheduled run of this store's clients is already going on")
            self._running = list(range(clients))
            self._holder = 0 if clients else None
        try:
            yield
        finally:
            with self._changed:
                self._running, self._holder = [], None
                self._changed.notify_all()

    @contextlib.contextmanager
    def client(self, index: int) -> Iterator[None]:
        """The life of client ``index`` on this thread: it waits for its first turn, and when it
        ends (returning or raising) it leaves the round and hands the turn on."""
        self._local.index = index
        try:
            with self._changed:
                self._wait_for(index)
            yield
        finally:
            self._local.index = None
            with self._changed:
                if self._holder == index:
                    self._holder = self._after(index)
                if index in self._running:
                    self._running.remove(index)
                self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        """Hand the turn to the next running client and wait until it comes back; outside a
        scheduled run, sleep ``seconds`` instead (the time the store simulates)."""
        index = getattr(self._local, "index", None)
        if index is None:
            time.sleep(seconds)
            return
        with self._changed:
            self._holder = self._after(index)
            self._changed.notify_all()
            self._wait_for(index)

    def pause_until(self, seconds: float, arrived: Callable[[], bool]) -> None:
        """Hand the turn on, round after round, until another client's call has made ``arrived``
        true, or until no other client can make one (each has finished or holds a window open
        itself): a window held open until its partner comes. Outside a scheduled run, sleep
        ``seconds`` instead."""
        index = getattr(self._local, "index", None)
        if index is None:
            time.sleep(seconds)
            return
        with self._changed:
            self._in_window.add(index)
            try:
                while not arrived() and any(client not in self._in_window for client in self._running):
                    self._holder = self._after(index)
                    self._changed.notify_all()
                    self._wait_for(index)
            finally:
                self._in_window.discard(index)

    def _after(self, index: int) -> int | None:
        """The running client whose turn follows ``index``'s (``index`` itself when alone)."""
        others = [client for client in self._running if client != index]
        if not others:
            return index if index in self._running else None
        return next((client for client in others if client > index), others[0])

    def _wait_for(self, index: int) -> None:
        while self._holder != index:
            if index not in self._running:
                raise RuntimeError(f"client {index} is not part of this store's scheduled run")
            self._changed.wait()
