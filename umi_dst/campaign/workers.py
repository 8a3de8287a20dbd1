"""Where a campaign's jobs run: in this process, or in worker processes on this machine.

Each worker is a separate ``spawn``ed process, so it owns its stores, its Hypothesis state and,
for PostgreSQL, its own embedded server (started on first use, stopped when the worker exits).
A runner hands out ``concurrent.futures``-style futures; jobs report finished test cases through
the ``on_example`` callback the runner gives them, which the driver polls for its progress bar.
``cluster.DaskRunner`` offers the same interface on a Dask scheduler.

SIGTERM (a CI job's timeout, ``kill``) unwinds a campaign as Ctrl-C does instead of killing it
where it stands: the driver and each worker raise ``Terminated``, scratch directories are
removed and each process's embedded server is stopped at exit. The driver passes the signal on
to its workers, which, unlike with Ctrl-C in a terminal, do not receive it themselves. Each
worker holds a lifeline (``lifeline``): when its driver is gone, SIGKILL included, it is sent
SIGTERM until it has exited, and so cleans up and exits as if the driver had passed it on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import multiprocessing.util
import signal
from collections.abc import Callable, Sequence
from concurrent import futures
from types import CodeType, FrameType
from typing import Any, Protocol

from umi_dst.campaign import lifeline

POLL_SECONDS = 0.5


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind and clean up as for an interrupt."""


def stop_on_sigterm() -> None:
    """Make SIGTERM raise ``Terminated`` in this process's main thread, so that it cleans up and
    exits, without cutting a clean-up short (SIGKILL still stops it).

    In a worker, a SIGTERM that lands in a job stops the job, and those that follow while it
    unwinds are ignored; one that lands while the worker waits for its next job (which a driver
    that is gone never sends) ends the worker; any other is ignored: one raised while a result
    is sent back would be swallowed by the pool, or cut the message short, and the driver would
    wait forever for the rest. A worker's lifeline asks again until one lands where it acts, and
    a live driver sends the word to exit. From the start of a worker's exit SIGTERM is ignored.
    In any other process (the driver) it raises once."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    global _terminating, _exiting, _job_stopped
    _terminating = True
    if _exiting:
        return
    if not _worker:
        _exiting = True
    elif _in(frame, _unless_terminating.__code__):
        if _job_stopped:
            return
        _job_stopped = True
    elif not _in(frame, _WAIT_FOR_JOB):
        return
    raise Terminated("terminated by SIGTERM")


def _in(frame: FrameType | None, code: CodeType) -> bool:
    """Whether ``code`` runs in ``frame`` or a frame that called it."""
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


_WAIT_FOR_JOB = multiprocessing.queues.Queue.get.__code__
"""Where a worker waits for its next job (the pool's call queue)."""


def _exit_begins() -> None:
    global _exiting
    _exiting = True


_terminating = False
"""Set by SIGTERM: a worker then refuses the jobs queued for it, and so reaches its exit."""
_job_stopped = False
"""In a worker: SIGTERM has stopped the job under way, which is now unwinding."""
_exiting = False
"""The worker is exiting, or SIGTERM has stopped another process: SIGTERM is ignored."""
_worker = False
"""This process is a worker (see ``stop_on_sigterm``)."""


def raise_if_terminated() -> None:
    """Raise ``Terminated`` if SIGTERM has arrived. Its exception is lost when it is raised
    inside a garbage-collector callback or a ``__del__`` (Python only prints it), and the
    process would run on to the end of its shard: the machine calls this before every step."""
    if _terminating:
        raise Terminated("terminated by SIGTERM")


def _unless_terminating(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A worker's job: ``fn``, unless SIGTERM has arrived (see ``stop_on_sigterm``)."""
    global _job_stopped
    _job_stopped = False
    raise_if_terminated()
    return fn(*args, **kwargs)


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

    def interrupt(self) -> None:
        """The driver was terminated: stop the jobs under way (they clean up after themselves)."""

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

    def interrupt(self) -> None:
        return None  # the job under way is in this process: it is unwinding already

    def close(self) -> None:
        return None


class ProcessRunner:
    """``workers`` spawned processes on this machine, each running one job at a time.

    Workers report finished test cases on a queue they inherit when they start (no manager
    process in between), so the driver's only children are its workers."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.slots = workers
        self._reports = context.SimpleQueue()
        self._pool = futures.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(self._reports,)
        )

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> futures.Future:
        return self._pool.submit(_unless_terminating, fn, *args, **kwargs)

    def wait(self, pending: Sequence[Any]) -> None:
        futures.wait(pending, timeout=POLL_SECONDS, return_when=futures.FIRST_COMPLETED)

    def on_example(self) -> Callable[[], None]:
        return _report_case

    def cases_reported(self) -> int:
        count = 0
        while not self._reports.empty():
            self._reports.get()
            count += 1
        return count

    def interrupt(self) -> None:
        """SIGTERM to the workers: each unwinds its shard and stops its server as it exits."""
        for worker in self._workers():
            if worker.is_alive():
                worker.terminate()

    def close(self) -> None:
        workers = self._workers()  # the pool forgets them on shutdown
        self._pool.shutdown(wait=True, cancel_futures=True)
        for worker in workers:  # a broken pool returns before they exit
            worker.join(_EXIT_SECONDS)
        self._reports.close()

    def _workers(self) -> list[multiprocessing.process.BaseProcess]:
        """The pool's own worker processes: not every child of this process, which may have
        others that outlive the pool (a test's, a backend's helper), to wait for or signal."""
        return list((getattr(self._pool, "_processes", None) or {}).values())


_EXIT_SECONDS = 60.0
"""How long a worker may take to clean up (stop its server) once told to stop."""

_reports: Any = None
"""In a worker: the queue its finished test cases go to."""


def _start_worker(reports: Any) -> None:
    global _reports, _worker
    _reports = reports
    _worker = True
    stop_on_sigterm()
    # The first of the worker's exit steps (multiprocessing runs them once its loop has ended).
    multiprocessing.util.Finalize(None, _exit_begins, exitpriority=_FIRST_AT_EXIT)
    lifeline.hold()


_FIRST_AT_EXIT = 1_000
"""Above the exit priorities of multiprocessing's own finalizers."""


def _report_case() -> None:
    _reports.put(1)
