"""Campaign jobs on a Dask ``distributed`` scheduler (the optional ``cluster`` extra).

``umi-dst run --cluster ADDRESS`` (or ``UMI_DST_CLUSTER=ADDRESS``) sends the shards to the
scheduler at ``ADDRESS``; results (coverage, counts and the shrunk seeds as data) come back, and
the driver writes the seed files and the report on its own side. Finished test cases are
reported on a Dask queue as they finish, so the progress bar moves per case, as on one machine.
Dask deploys its workers on
Kubernetes, HPC schedulers and clouds through its own packages; each worker should run one
thread per process (``--nthreads 1``), since a job owns its process's stores and database server.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

CLUSTER_ENV = "UMI_DST_CLUSTER"
WAIT_SECONDS = 0.5


class ClusterUnavailable(RuntimeError):
    """The ``cluster`` extra is missing or the scheduler cannot be reached."""


def address_from_env() -> str | None:
    return os.environ.get(CLUSTER_ENV) or None


class DaskRunner:
    """Submits jobs to the scheduler at ``address``; one slot per worker thread."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client, Queue
        except ImportError as exc:
            raise ClusterUnavailable(
                f"--cluster needs the 'cluster' extra: pip install 'umi-dst[cluster]' ({exc})"
            ) from None
        try:
            self._client = Client(address, timeout="20s")
        except OSError as exc:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        self.slots = max(1, sum(self._client.nthreads().values()))
        self._cases = Queue(f"umi-dst-cases-{uuid.uuid4().hex}", client=self._client)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._client.submit(fn, *args, pure=False, **kwargs)

    def wait(self, pending: Sequence[Any]) -> None:
        from distributed import wait
        from distributed.client import TimeoutError as DaskTimeout

        try:
            wait(list(pending), timeout=WAIT_SECONDS, return_when="FIRST_COMPLETED")
        except (DaskTimeout, TimeoutError):
            return

    def on_example(self) -> Callable[[], None]:
        return functools.partial(_report_case, self._cases.name)

    def cases_reported(self) -> int:
        count = self._cases.qsize()
        if count:
            self._cases.get(batch=count)
        return count

    def interrupt(self) -> None:
        return None  # closing the client releases its futures: the scheduler drops their shards

    def close(self) -> None:
        self._client.close()


def _report_case(queue_name: str) -> None:
    """On a worker: one finished test case. The queue travels by name, not as an object: the
    scheduler unpickles a task's arguments, and a queue object would look for a client there."""
    from distributed import Queue

    Queue(queue_name).put(1)
