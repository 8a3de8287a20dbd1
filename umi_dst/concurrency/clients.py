"""A program's clients, run at once: as threads, or as processes started with ``spawn``.

Threads share the store's faults: a nemesis that takes every connection down (a crashed
server, ``cuts_off_other_connections``) marks the calls other clients had in flight as cut
off, and every client whose connection predates it reconnects once the store is back.
Processes (``ClientPool``) report each call as they make it, so a client killed by
``kill_client`` (SIGKILL right after an acknowledged write, or k ms into one) leaves its calls
recorded, the one it died in as raised; it runs nothing more. A client process holds a lifeline
(``lifeline``): it exits when the process that started it is gone.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection

from umi_dst.campaign import lifeline
from umi_dst.checking.faults import INJECTED_FAULTS
from umi_dst.concurrency.history import Call, Planned, perform
from umi_dst.contract import BackendFactory, VectorBackend

_SPAWN = multiprocessing.get_context("spawn")
_CLIENT_TIMEOUT = 300.0
KILL_CLIENT = "kill_client"
"""The parallel mode's fault for clients run as processes: SIGKILL the client at a point of its write."""
AFTER_ACK = "after_ack"
IN_WRITE = "in_write"
KILL_POINTS = (AFTER_ACK, IN_WRITE)


class _Outage:
    """What the client threads of one run share about faults that take every connection down.

    ``epoch`` counts such faults begun; ``healed`` is set while none is striking. A call that
    raised on a connection opened before the latest fault began was cut off by it.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self._lock = threading.Lock()
        self._healed = threading.Event()
        self._healed.set()

    @contextlib.contextmanager
    def striking(self) -> Iterator[None]:
        with self._lock:
            self.epoch += 1
            self._healed.clear()
        try:
            yield
        finally:
            self._healed.set()

    def wait_healed(self) -> None:
        if not self._healed.wait(_CLIENT_TIMEOUT):
            raise TimeoutError(f"the store was not back within {_CLIENT_TIMEOUT}s of a crash")


def run_threads(factory: BackendFactory, plans: list[list[Planned]]) -> list[Call]:
    """Each client's calls on its own thread, all started at once; a factory that declares
    ``turns`` (a simulated store, ``umi_dst.concurrency.turns``) has them take turns in a fixed order."""
    connections = [factory.open() for _ in plans]
    start = threading.Barrier(len(plans))
    outage = _Outage()
    recorded: list[list[Call]] = [[] for _ in plans]
    crashed: list[BaseException] = []
    turns = getattr(factory, "turns", None)

    def client(index: int) -> None:
        start.wait()
        try:
            with turns.client(index) if turns is not None else contextlib.nullcontext():
                recorded[index] = _client_calls(index, factory, plans[index], connections, outage)
        except BaseException as exc:  # re-raised in the caller's thread
            crashed.append(exc)

    threads = [threading.Thread(target=client, args=(i,), name=f"umi-client-{i}") for i in range(len(plans))]
    with turns.run(len(plans)) if turns is not None else contextlib.nullcontext():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for connection in connections:
        with contextlib.suppress(Exception):
            connection.close()
    if crashed:
        raise crashed[0]
    return list(itertools.chain.from_iterable(recorded))


def _client_calls(
    index: int, factory: BackendFactory, plans: list[Planned], connections: list[VectorBackend], outage: _Outage
) -> list[Call]:
    """One client's calls, in order, then its connection closed. After a fault that took the
    store down, and after its own call under a nemesis, the client goes on with a new
    connection (kept in ``connections``)."""
    calls = []
    epoch = 0
    for planned in plans:
        if outage.epoch != epoch:  # its connection went down with the store
            outage.wait_healed()
            connections[index] = _reopened(factory, connections[index])
            epoch = outage.epoch
        nemesis = None if planned.fault in INJECTED_FAULTS else factory.nemeses.get(planned.fault)
        with outage.striking() if getattr(nemesis, "cuts_off_other_connections", False) else contextlib.nullcontext():
            call = perform(index, planned, connections[index], nemesis)
        if call.error is not None and planned.fault is None and outage.epoch != epoch:
            call = dataclasses.replace(call, cut_off=True)
        elif call.error is not None and nemesis is not None and nemesis.expected(planned.at) == "old":
            call = dataclasses.replace(call, never_applied=True)
        if nemesis is not None:
            connections[index] = _reopened(factory, connections[index])
            epoch = outage.epoch
        calls.append(call)
    with contextlib.suppress(Exception):  # now, not after every client: its locks may hold others up
        connections[index].close()
    return calls


def _reopened(factory: BackendFactory, connection: VectorBackend) -> VectorBackend:
    """A new connection in place of one a fault may have broken (closing it may fail)."""
    with contextlib.suppress(Exception):
        connection.close()
    return factory.open()


class ClientPool:
    """Client processes started with ``spawn`` once and reused for every program.

    Each program's factory is sent to them (without its nemeses), so a factory must pickle and
    reach the same store from another process, as Lance's does (a directory path).
    """

    def __init__(self) -> None:
        self._workers: list[tuple[multiprocessing.Process, Connection]] = []

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, factory: BackendFactory, plans: list[list[Planned]]) -> list[Call]:
        portable = _portable(factory)
        while len(self._workers) < len(plans):
            here, there = _SPAWN.Pipe()
            process = _SPAWN.Process(target=_client_main, args=(there,), daemon=True, name="umi-client")
            process.start()
            there.close()
            self._workers.append((process, here))
        workers = self._workers[: len(plans)]
        for index, ((_, conn), planned) in enumerate(zip(workers, plans)):
            conn.send((portable, index, planned))
        for _, conn in workers:
            self._expect(conn, "ready")
        for _, conn in workers:
            conn.send("go")
        calls = [self._calls(index, plans[index], conn) for index, (_, conn) in enumerate(workers)]
        for process, conn in [w for w in workers if not w[0].is_alive() or w[1].closed]:  # killed: replaced next time
            process.join()
            conn.close()
            self._workers.remove((process, conn))
        return list(itertools.chain.from_iterable(calls))

    def _calls(self, index: int, plans: list[Planned], conn: Connection) -> list[Call]:
        """The calls a client reports as it makes them, until it is done or was killed (the
        pipe ends); a write it was killed in is recorded as raised, so indeterminate."""
        made: list[Call] = []
        invoked: int | None = None
        while True:
            if not conn.poll(_CLIENT_TIMEOUT):
                raise TimeoutError(f"client process {index} sent nothing within {_CLIENT_TIMEOUT}s")
            try:
                kind, payload = conn.recv()
            except EOFError:
                conn.close()
                if invoked is not None:
                    made.append(
                        Call(
                            index,
                            plans[len(made)],
                            invoked,
                            time.monotonic_ns(),
                            None,
                            "client process killed in the write",
                        )
                    )
                return made
            if kind == "call":
                made.append(payload)
            elif kind == "invoking":
                invoked = payload
            elif kind == "done":
                return made
            else:
                raise RuntimeError(f"client process {index} sent {kind!r} ({payload})")

    def _expect(self, conn: Connection, kind: str) -> object:
        if not conn.poll(_CLIENT_TIMEOUT):
            raise TimeoutError(f"client process sent no {kind!r} within {_CLIENT_TIMEOUT}s")
        got, payload = conn.recv()
        if got != kind:
            raise RuntimeError(f"client process sent {got!r} ({payload}), expected {kind!r}")
        return payload

    def close(self) -> None:
        for process, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._workers.clear()


def _portable(factory: BackendFactory) -> bytes:
    clone = copy.copy(factory)
    clone.nemeses = {}
    try:
        return pickle.dumps(clone)
    except Exception as exc:
        raise ValueError(
            f"backend {factory.name!r}: its factory cannot be sent to a client process ({exc}); "
            "run its clients as threads"
        ) from None


def _client_main(conn: Connection) -> None:
    """A spawned client: for each program, open a connection, wait for 'go', run, report."""
    lifeline.hold()
    while (job := conn.recv()) is not None:
        portable, index, plans = job
        try:
            backend = pickle.loads(portable).open()
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ready", None))
        conn.recv()
        for planned in plans:
            if planned.fault == KILL_CLIENT:
                _die_in(index, planned, backend, conn)
            conn.send(("call", perform(index, planned, backend)))
        with contextlib.suppress(Exception):
            backend.close()
        conn.send(("done", None))


def _die_in(index: int, planned: Planned, backend: VectorBackend, conn: Connection) -> None:
    """Make the write, and die (SIGKILL) where ``planned.at`` says: once it was acknowledged and
    reported, or ``k`` ms into it (right after it, if it ended sooner)."""
    write = dataclasses.replace(planned, fault=None, at=None)
    if planned.at.point == AFTER_ACK:
        conn.send(("call", dataclasses.replace(perform(index, write, backend), planned=planned)))
    else:
        conn.send(("invoking", time.monotonic_ns()))
        threading.Timer(planned.at.k / 1000, os.kill, (os.getpid(), signal.SIGKILL)).start()
        perform(index, write, backend)
    os.kill(os.getpid(), signal.SIGKILL)
