"""Lifelines: a process the project starts exits soon after the process that started it is gone.

Every multiprocessing child the project starts (campaign workers, the parallel mode's client
processes, the Lance nemeses' helpers) calls ``hold()`` first. multiprocessing gives each child,
spawned or forked by a forkserver alike, the read end of a pipe whose write end only its starter
holds (``parent_process().sentinel``; a forkserver child's starter is the process that asked for
it, not the forkserver). However the starter ends (SIGKILL, the OOM killer), the kernel closes
its end and the read end reaches end-of-file. A daemon thread blocked on it then asks this
process to stop: SIGTERM at once and every ``ASK_SECONDS`` after (a process ignores it while it
cleans up; a campaign worker whose job the first one stopped then waits for a job that will
never come, and the next one ends that wait), and SIGKILL once ``GRACE_SECONDS`` have passed.

Why the pipe rather than Linux's PR_SET_PDEATHSIG or polling ``os.getppid()``: a starter that
died before the watch began has closed its end already, so there is no race to check; the pipe
is not cut when the starter's forking thread ends (PR_SET_PDEATHSIG fires then), nor fooled by a
reparenting to a subreaper; it wakes at once instead of at the next poll; and it works wherever
multiprocessing does. Its cost is one thread blocked in a system call.

Two kinds of process are no multiprocessing child. The forkserver (multiprocessing's own) ends
when its "alive" pipe, held by every process it serves, reaches end-of-file, but it reads that
pipe only once it has imported its preload modules; ``die_with_parent()`` covers those seconds.
An embedded PostgreSQL server is not ours to change: the process that owns it stops it at exit
(``umi_dst.backends.postgres.server``), and the next run sweeps a server whose owner was killed.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time

ASK_SECONDS = 0.5
"""How often a process whose starter is gone is asked again to stop (SIGTERM)."""
GRACE_SECONDS = 5.0
"""How long it may take to clean up before it is killed (SIGKILL)."""
_PR_SET_PDEATHSIG = 1


def hold() -> None:
    """In a multiprocessing child: stop this process (SIGTERM, then SIGKILL after
    ``GRACE_SECONDS``) as soon as the process that started it is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        raise RuntimeError("hold() is for processes started by multiprocessing")
    threading.Thread(target=_stop_when_gone, args=(parent.sentinel,), name="umi-lifeline", daemon=True).start()


def _stop_when_gone(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ASK_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when the thread that started it ends (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing). For a process that is no multiprocessing child and
    also holds a pipe from its starter: the signal never comes if the starter died before this
    call, and comes early if the starting thread ends before its process."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
