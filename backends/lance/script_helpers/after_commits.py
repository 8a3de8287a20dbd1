"""The script's side of ``nemeses``' placed competing writer: the write's commits are counted
by the manifests the table publishes, and the competitor's turn comes after the ``k``-th."""

import multiprocessing
import os

TABLE_DIR = "vectors.lance"
"""The table's directory in the store (the renderer sets it from the backend's table name)."""


def versions(store):
    """Versions the table has committed: each commit publishes one manifest."""
    path = os.path.join(store, TABLE_DIR, "_versions")
    return len(os.listdir(path)) if os.path.isdir(path) else 0


def competitor_turn(turn, store):
    """Run the competing writer's turn in a process of its own, and wait for it."""
    process = multiprocessing.get_context("spawn").Process(target=turn, args=(store,))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the competing writer's turn failed (exit code {process.exitcode})")


class AfterCommits:
    """Hands the competing writer its turn once the write has made ``k`` commits, before the
    write's next call to Lance (``finish``: when the write ends, if it made fewer)."""

    def __init__(self, store, k, turn):
        self.store, self.k, self.turn = store, k, turn
        self.start, self.competitor_commits, self.taken = versions(store), 0, False

    def wrap(self, target):
        """``target`` (the connection, a table), its calls watched; None stays None."""
        return None if target is None else Watched(target, self)

    def before_call(self):
        if versions(self.store) - self.start - self.competitor_commits >= self.k:
            self.finish()

    def finish(self):
        if not self.taken:
            self.taken = True
            before = versions(self.store)
            self.turn()
            self.competitor_commits += versions(self.store) - before


class Watched:
    """A Lance object whose method calls first let ``AfterCommits`` hand out the turn; the
    tables they return are watched too."""

    def __init__(self, target, turns):
        self._target, self._turns = target, turns

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self._turns.before_call()
            result = attribute(*args, **kwargs)
            return self._turns.wrap(result) if hasattr(result, "merge_insert") else result

        return call
