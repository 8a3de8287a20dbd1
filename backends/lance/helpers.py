"""Helper processes of the Lance nemeses: children forked from a preloaded forkserver that
serve requests over a pipe.

A helper is forked from a forkserver that has imported lancedb but never used it (see
``forkserver``; a process that has used Lance is not fork-safe), so it starts in a fraction
of a second instead of paying lancedb's import. The protocol is plain: the child sends
``("ready", None)`` once it can serve, then answers each message with ``(kind, payload)``,
``("error", text)`` when it failed; ``None`` asks it to exit.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
from collections.abc import Callable

FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload(["umi_dst.backends.lance.forkserver"])
READY_TIMEOUT = 120.0
"""Seconds a helper may take to start serving."""
REPLY_TIMEOUT = 120.0
"""Seconds a helper may take to answer one request (a write, a turn)."""


class Helper:
    """A helper process that talks over a pipe; ``target(conn, *args)`` runs inside it."""

    def __init__(self, target: Callable, *args: object) -> None:
        self.owner_pid = os.getpid()
        self._conn, child_conn = FORKSERVER.Pipe()
        self.process = FORKSERVER.Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()
        child_conn.close()
        self._ready = False

    def wait_ready(self) -> None:
        if not self._ready:
            self.expect("ready", READY_TIMEOUT)
            self._ready = True

    def send(self, message: object) -> None:
        self._conn.send(message)

    def poll(self, timeout: float = 0.0) -> bool:
        return self._conn.poll(timeout)

    def receive(self) -> tuple[str, object]:
        return self._conn.recv()

    def expect(self, kind: str, timeout: float) -> object:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"helper {self.process.pid} sent no {kind!r} within {timeout}s")
        got, payload = self._conn.recv()
        if got == "error":
            raise RuntimeError(f"helper {self.process.pid} failed: {payload}")
        if got != kind:
            raise RuntimeError(f"helper {self.process.pid} sent {got!r}, expected {kind!r}")
        return payload

    def kill(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join()
        self._conn.close()

    def stop(self) -> None:
        try:
            self._conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        self.kill()


def start_forkserver() -> None:
    """Start the forkserver now, so that its one import of lancedb overlaps other work."""
    multiprocessing.forkserver.ensure_running()
