"""Real faults for a LanceDB store: a writer killed mid-commit, and a competing writer.

Both run helper processes (``helpers``) that open their own connection to the store. A
helper is started once and reused,
so a nemesis step costs one write, not one process start; the competitor's helper is kept for
the life of the process and handed each store in turn, so a test case does not pay for one.
Each helper holds a lifeline (``umi_dst.campaign.lifeline``): it exits when the process that started it
is gone, killed or not.

- ``KillWriter`` performs the write in a helper and SIGKILLs it while the write is in
  flight: as soon as new data or deletion files appear in the table directory, or at a
  seeded moment within the time writes have been taking. Lance commits by atomically
  publishing a manifest, so the table must open afterwards with the write all there or
  all absent.
- ``competing_writer`` has a second process commit to the same table during the machine's
  write. The competitor never changes what the machine reads next. Its cycle: the machine's
  own write (same ids, same values: two writers on the same rows, as with at-least-once
  delivery, which is where conflicts are real), a rewrite of rows the write does not touch
  with the exact values they hold (``merge_insert`` updating matched rows only, from a
  snapshot taken while those rows are stable), and a compaction (``optimize``). It never
  rewrites a touched row from its snapshot: a conflicting rewrite that Lance retries would
  replay a stale value over the machine's acknowledged one. The machine places it at
  ``after_commits``: the competitor takes one turn of its cycle after k of the write's
  commits, while the write waits, so the interleaving and the verdict are the same on every
  replay and a failure it causes shrinks (a race that comes back one replay in several stalls
  Hypothesis's shrinker and ends in a flaky verdict). A step with no point (a seed written
  by hand, or before the point existed) races: the competitor cycles for as long as the
  write runs, which reaches two commits built on the same version, and whose verdict may
  take more than one replay. Real concurrency is also the parallel mode's (``parallel``).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import pyarrow as pa
import pyarrow.compute as pc
from umi_dst.backends.lance.helpers import REPLY_TIMEOUT, Helper, start_forkserver
from umi_dst.backends.lance.store import ID_COLUMN, LanceStore, LanceVectorBackend, is_commit_conflict

from umi_dst.campaign import lifeline
from umi_dst.contract import InjectedFault, VectorBackend, WriteCall
from umi_dst.operations import CrashPoint

_POLL_INTERVAL = 0.0002
_MAX_TYPICAL_WRITE = 10.0
REWRITE_CHUNK = 64


class WriterKilled(InjectedFault):
    """The helper performing the write was SIGKILLed; the write may or may not have landed."""


def _writer_main(conn: Connection, store: LanceStore, backend_class: type[LanceVectorBackend]) -> None:
    lifeline.hold()
    backend = backend_class(store)
    backend.count()  # open the table now, so the timed write is a write, not a warm-up
    conn.send(("ready", None))
    while (call := conn.recv()) is not None:
        conn.send(("writing", None))
        try:
            call.apply(backend)
        except Exception as error:
            conn.send(("failed", repr(error)))
        else:
            conn.send(("done", None))


def _write_files(store: LanceStore) -> set[str]:
    """Names of the data and deletion files a commit writes before its manifest."""
    names: set[str] = set()
    for sub in ("data", "_deletions"):
        try:
            names.update(f"{sub}/{name}" for name in os.listdir(store.table_dir() / sub))
        except FileNotFoundError:
            pass
    return names


class KillWriter:
    """SIGKILL the process performing a write while its commit is in flight."""

    name = "kill_writer"

    def __init__(
        self,
        store: LanceStore,
        backend_class: type[LanceVectorBackend],
        seed: int = 0,
        expected_write: float = 0.02,
    ) -> None:
        """``expected_write`` (seconds) is the first guess of a write's duration; later
        guesses follow the writes that finish."""
        self.store = store
        self.backend_class = backend_class
        self._rng = random.Random(seed)
        self._helper: Helper | None = None
        self._typical_write = expected_write
        self.kills = 0
        self.kills_after_files = 0
        self.completed = 0

    def __repr__(self) -> str:
        return f"KillWriter(kills={self.kills}, after_files={self.kills_after_files}, completed={self.completed})"

    def disturb(self, backend: VectorBackend, call: WriteCall) -> None:
        # Create the table here, so the kill lands in the write, not in table creation.
        backend.ensure_table()
        helper = self._spare()
        helper.wait_ready()
        before = _write_files(self.store)
        # Half the kills wait for the first file of the commit, half strike at a seeded
        # moment within the time writes have been taking (before, during or after).
        on_first_file = self._rng.random() < 0.5
        kill_at = self._rng.uniform(0.0, 2 * self._typical_write)
        helper.send(call)
        helper.expect("writing", REPLY_TIMEOUT)
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if helper.poll(_POLL_INTERVAL):
                self._finished(helper, elapsed)
                return
            struck = (_write_files(self.store) - before) if on_first_file else elapsed >= kill_at
            if struck or elapsed > REPLY_TIMEOUT:
                self._kill(helper)
                if _write_files(self.store) - before:
                    self.kills_after_files += 1
                else:
                    # Struck before the write began writing: aim later next time.
                    self._typical_write = min(2 * self._typical_write, _MAX_TYPICAL_WRITE)
                raise WriterKilled(f"writer killed {elapsed * 1000:.1f} ms into {call.method}")

    def _finished(self, helper: Helper, elapsed: float) -> None:
        kind, payload = helper.receive()
        self.completed += 1
        self._typical_write = 0.8 * self._typical_write + 0.2 * elapsed
        if kind == "failed":
            raise RuntimeError(f"writer process failed: {payload}")

    def _kill(self, helper: Helper) -> None:
        helper.kill()
        self._helper = None
        self.kills += 1

    def _spare(self) -> Helper:
        if self._helper is None:
            self._helper = Helper(_writer_main, self.store, self.backend_class)
        return self._helper

    def heal(self) -> None:
        """Start the next writer now, so it is ready by the next disturbance."""
        self._spare()

    def stop(self) -> None:
        if self._helper is not None:
            self._helper.stop()
            self._helper = None


AFTER_COMMITS = "after_commits"
"""The competitor's point in a write: its whole turn (the same write, a rewrite of untouched
rows, a compaction) lands after ``k`` of the write's commits, while the write waits."""

_OWNERS = itertools.count()
_shared: Helper | None = None
"""This process's competitor helper, handed each store in turn (see ``_competitor``)."""


def _competitor() -> Helper:
    """The competitor helper of this process, started on first use and kept across test cases:
    a test case then pays for a message, not a process. Daemonic, so it ends with this process
    (and by its lifeline if this process is killed)."""
    global _shared
    if _shared is None or _shared.owner_pid != os.getpid() or not _shared.process.is_alive():
        _shared = Helper(_competitor_main)
    return _shared


def competitor_pid() -> int | None:
    """The pid of this process's competitor helper, while one runs."""
    helper = _shared
    alive = helper is not None and helper.owner_pid == os.getpid() and helper.process.is_alive()
    return helper.process.pid if alive else None


def _discard(helper: Helper) -> None:
    """Kill a helper whose exchange broke; the next request starts a fresh one."""
    global _shared
    if _shared is helper:
        _shared = None
    if helper.owner_pid == os.getpid():
        helper.kill()


def _exchange(helper: Helper, message: object, reply: str) -> object:
    """Send ``message`` and wait for ``reply``. Any failure (an error reported, a timeout, a
    broken pipe) may leave the helper out of step, so it is discarded."""
    try:
        helper.wait_ready()
        helper.send(message)
        return helper.expect(reply, REPLY_TIMEOUT)
    except Exception:
        _discard(helper)
        raise


def _competitor_main(conn: Connection) -> None:
    """Serve one store at a time: a connection is opened for a store's first request and
    closed when another store's arrives or the store is released."""
    lifeline.hold()
    served: tuple[int, LanceVectorBackend] | None = None
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        kind, owner, *request = message
        if served is not None and served[0] != owner:
            served[1].close()
            served = None
        if kind == "release":
            continue
        store, backend_class, call = request
        if served is None:
            served = (owner, backend_class(store))
        backend = served[1]
        if kind == "turn":
            try:
                conn.send(("took_turn", _turn(backend, call)))
            except Exception as error:
                conn.send(("error", repr(error)))
            continue
        try:
            outcome = ("stopped", _burst(conn, backend, call))
        except Exception as error:
            outcome = ("error", repr(error))
        conn.recv()  # the "stop" that ends every burst
        conn.send(outcome)


def _untouched_rows(backend: LanceVectorBackend, call: WriteCall) -> pa.Table | None:
    """The rows ``call`` does not touch, as they are now (None while there is no table)."""
    table = backend.table
    if table is None:
        return None
    snapshot = backend.run(table.to_arrow())
    busy = pc.is_in(snapshot[ID_COLUMN], value_set=pa.array(call.changed_ids(), pa.string()))
    return snapshot.filter(pc.invert(busy))


def _competing_commit(backend: LanceVectorBackend, call: WriteCall, step: int, untouched: pa.Table | None) -> bool:
    """Commit step ``step`` of the cycle: the machine's own write (same ids, same values), a
    rewrite of untouched rows with the values they hold, or a compaction. False: nothing to do
    yet (no table)."""
    table = backend.table
    if step % 3 == 0:
        call.apply(backend)
    elif table is None:
        return False
    elif step % 3 == 1 and untouched is not None and untouched.num_rows:
        chunk = untouched.slice((step * REWRITE_CHUNK) % untouched.num_rows, REWRITE_CHUNK)
        backend.run(table.merge_insert(ID_COLUMN).when_matched_update_all().execute(chunk))
    else:
        backend.run(table.optimize())
    return True


def _turn(backend: LanceVectorBackend, call: WriteCall) -> tuple[int, int]:
    """One round of the cycle, each commit in turn, while the machine's write waits; return
    (commits, conflicts). The rows are read after the write's earlier commits, so they are the
    ones the write will not touch again."""
    untouched = _untouched_rows(backend, call)
    retries_before = backend.commit_retries
    commits = conflicts = 0
    for step in range(3):
        try:
            commits += _competing_commit(backend, call, step, untouched)
        except Exception as error:
            if not is_commit_conflict(error):
                raise
            conflicts += 1
    return commits, conflicts + backend.commit_retries - retries_before


def _burst(conn: Connection, backend: LanceVectorBackend, call: WriteCall) -> tuple[int, int]:
    """Commit content-neutral writes until the parent says stop; return (commits, conflicts).

    The cycle is: the machine's own write (same ids, same values: two writers racing on the
    same rows, as with at-least-once delivery), a rewrite of untouched rows with the values
    they hold (read before the write starts), and a compaction.
    """
    untouched = _untouched_rows(backend, call)
    conn.send(("started", None))
    retries_before = backend.commit_retries
    commits = conflicts = step = 0
    while not conn.poll():
        try:
            if _competing_commit(backend, call, step, untouched):
                commits += 1
            else:
                time.sleep(0.001)
                continue
        except Exception as error:
            if not is_commit_conflict(error):
                raise
            conflicts += 1
        finally:
            step += 1
    return commits, conflicts + backend.commit_retries - retries_before


def _version_count(store: LanceStore) -> int:
    """Versions the table has committed (each commit publishes one manifest)."""
    try:
        return len(os.listdir(store.table_dir() / "_versions"))
    except FileNotFoundError:
        return 0


def _interleaved(backend_class: type[LanceVectorBackend]) -> type[LanceVectorBackend]:
    """``backend_class`` whose connection hands the competitor its turn after ``k`` of its own
    commits, before its next call to Lance (or when its write ends, if it commits fewer)."""

    class Interleaved(backend_class):
        def __init__(self, store: LanceStore, take_turn: Callable[[], None], k: int) -> None:
            self._take_turn, self._k, self._commits, self._armed = take_turn, k, 0, False
            super().__init__(store)
            self._armed = True
            self.turn_taken = False

        def run(self, call):
            if not self._armed:
                return super().run(call)
            if not self.turn_taken and self._commits >= self._k:
                self.finish_turn()
            before = _version_count(self.config)
            try:
                return super().run(call)
            finally:
                self._commits += _version_count(self.config) - before

        def finish_turn(self) -> None:
            """Let the competitor take its turn now, unless it has already."""
            if not self.turn_taken:
                self.turn_taken = True
                self._take_turn()

    Interleaved.__name__ = Interleaved.__qualname__ = f"Interleaved{backend_class.__name__}"
    return Interleaved


class CompetingWriter:
    """Another process commits to the same table, content-neutrally, during a write: one turn
    after k of its commits (``after_commits``), or racing it (a step with no point)."""

    name = "competing_writer"
    points = (AFTER_COMMITS,)
    duplicates_write = True
    """The competitor runs the machine's own write too: a delete may find the record gone."""

    def __init__(self, store: LanceStore, backend_class: type[LanceVectorBackend]) -> None:
        self.store = store
        self.backend_class = backend_class
        self._owner = next(_OWNERS)
        self._used = False
        self.competitor_commits = 0
        self.competitor_conflicts = 0
        self.writer_retries = 0
        self.turns = 0

    def __repr__(self) -> str:
        return (
            f"CompetingWriter(commits={self.competitor_commits}, conflicts={self.competitor_conflicts}, "
            f"writer_retries={self.writer_retries}, turns={self.turns})"
        )

    @property
    def conflicts(self) -> int:
        """Commit races seen on either side: proof that the writers really collided."""
        return self.competitor_conflicts + self.writer_retries

    def expected(self, at: CrashPoint) -> None:
        """No one state: the competitor writes the write's own values, so a write that failed
        may leave the old state or the new (and one that returned, the new)."""
        return None

    def strike(self, backend: VectorBackend, call: WriteCall, at: CrashPoint) -> None:
        """The write, on a connection of its own, with the competitor's turn after ``at.k`` of
        its commits (``backend`` is not used: the harness reopens after a nemesis)."""
        if at.point != AFTER_COMMITS:
            raise ValueError(f"competing_writer has no point {at.point!r}; it has {self.points}")
        writer = _interleaved(self.backend_class)(self.store, lambda: self._take_turn(call), at.k)
        try:
            call.apply(writer)
        finally:
            try:
                writer.finish_turn()
            finally:
                self.writer_retries += writer.commit_retries
                writer.close()

    def _take_turn(self, call: WriteCall) -> None:
        helper = _competitor()
        commits, conflicts = _exchange(helper, self._request("turn", call), "took_turn")
        self.turns += 1
        self.competitor_commits += commits
        self.competitor_conflicts += conflicts

    def disturb(self, backend: VectorBackend, call: WriteCall) -> None:
        """Race the write: the competitor commits until the write has returned."""
        helper = _competitor()
        retries_before = backend.commit_retries
        _exchange(helper, self._request("burst", call), "started")
        try:
            call.apply(backend)
        finally:
            commits, conflicts = _exchange(helper, "stop", "stopped")
            self.competitor_commits += commits
            self.competitor_conflicts += conflicts
            self.writer_retries += backend.commit_retries - retries_before

    def _request(self, kind: str, call: WriteCall) -> tuple:
        self._used = True
        return (kind, self._owner, self.store, self.backend_class, call)

    def heal(self) -> None:
        """Nothing to undo: the competitor is done before ``strike`` or ``disturb`` returns."""

    def stop(self) -> None:
        """Have the helper close its connection to this store (the helper itself stays)."""
        helper = _shared
        if self._used and helper is not None and helper.owner_pid == os.getpid():
            try:
                helper.send(("release", self._owner))
            except OSError:
                _discard(helper)
        self._used = False


def lance_nemeses(store: LanceStore, backend_class: type[LanceVectorBackend]) -> dict[str, object]:
    """The nemeses every Lance factory declares; starts the forkserver their helpers come
    from, so its one import of lancedb overlaps the test case instead of delaying a fault.
    ``kill_writer`` is not among them: the harness's ``crash`` fault checks every crash state
    of a write at an exact point, where a timed kill lands where it happens to (``KillWriter``
    remains for runs of real kills)."""
    start_forkserver()
    return {CompetingWriter.name: CompetingWriter(store, backend_class)}
