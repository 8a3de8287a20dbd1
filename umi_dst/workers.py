"""Where a campaign's jobs run: in this process, or in worker processes on this machine.

Each worker is a separate ``spawn``ed process, so it owns its stores, its Hypothesis state and,
for PostgreSQL, its own embedded server (started on first use, stopped when the worker exits).
A runner hands out ``concurrent.futures``-style futures; jobs report finished test cases through
the ``on_example`` callback the runner gives them, which the driver polls for its progress bar.
``cluster.DaskRunner`` offers the same interface on a Dask scheduler.
"""

from __future__ import annotations

import functools
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, Protocol

POLL_SECONDS = 0.5


class Runner(Protocol):
    slots: int
    """How many jobs run at once."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def wait(self, pending: Sequence[Any]) -> None:
        """Return once a pending job is done, or after ``POLL_SECONDS``."""

    def on_example(self) -> Callable[[], None] | None:
        """A picklable callback for jobs to report each finished test case (``None``: unsupported)."""

    def cases_reported(self) -> int:
        """Test cases reported since the last call."""

    def close(self) -> None: ...


class InProcessRunner:
    """Runs each job at once, in this process (``--workers 1``)."""

    slots = 1

    def __init__(self) -> None:
        self._reported = 0
        self.listener: Callable[[], None] | None = None
        """Called after each reported test case (the driver's progress)."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> futures.Future:
        future: futures.Future = futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        return future

    def wait(self, pending: Sequence[Any]) -> None:
        return None

    def on_example(self) -> Callable[[], None]:
        return self._report

    def _report(self) -> None:
        self._reported += 1
        if self.listener:
            self.listener()

    def cases_reported(self) -> int:
        reported, self._reported = self._reported, 0
        return reported

    def close(self) -> None:
        return None


class ProcessRunner:
    """``workers`` spawned processes on this machine, each running one job at a time."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.slots = workers
        self._manager = context.Manager()
        self._reports = self._manager.Queue()
        self._pool = futures.ProcessPoolExecutor(workers, mp_context=context)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> futures.Future:
        return self._pool.submit(fn, *args, **kwargs)

    def wait(self, pending: Sequence[Any]) -> None:
        futures.wait(pending, timeout=POLL_SECONDS, return_when=futures.FIRST_COMPLETED)

    def on_example(self) -> Callable[[], None]:
        return functools.partial(self._reports.put_nowait, 1)

    def cases_reported(self) -> int:
        count = 0
        while True:
            try:
                self._reports.get_nowait()
            except queue.Empty:
                return count
            count += 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._manager.shutdown()
