"""Processes the project starts end with the process that started them (``umi_dst.campaign.lifeline``),
and a worker's rules for SIGTERM, by which its lifeline ends it (``umi_dst.campaign.workers``).

Each test waits for processes to go up to a deadline; its verdict never depends on how long
that took.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from umi_dst.campaign import lifeline, workers

TESTS = Path(__file__).resolve().parent
GONE_SECONDS = lifeline.GRACE_SECONDS + 10.0
"""How long a child whose starter is gone may take to be gone, its grace included."""

_STARTER = """
import multiprocessing, sys, time
import test_lifelines
method, target, marks = sys.argv[1:]
child = multiprocessing.get_context(method).Process(target=getattr(test_lifelines, target), args=(marks,))
child.start()
print(child.pid, flush=True)
time.sleep(600)
"""


def _asked_to_stop(marks: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (Path(marks, "asked to stop").touch(), os._exit(0)))


def _sleep_forever() -> None:
    while True:
        time.sleep(1)


def held(marks: str) -> None:
    """A child that holds its lifeline, and exits when asked to stop."""
    _asked_to_stop(marks)
    lifeline.hold()
    Path(marks, "held").touch()
    _sleep_forever()


def deaf(marks: str) -> None:
    """A child that holds its lifeline and ignores SIGTERM (with a shorter grace, to be quick)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lifeline.GRACE_SECONDS = 1.0
    lifeline.hold()
    Path(marks, "held").touch()
    _sleep_forever()


def held_late(marks: str) -> None:
    """A child that takes hold of its lifeline only once its starter is gone."""
    _asked_to_stop(marks)
    Path(marks, "started").touch()
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    lifeline.hold()
    _sleep_forever()


class Starter:
    """A process that starts one child (``target`` of this module) and waits."""

    def __init__(self, method: str, target: str, marks: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _STARTER, method, target, str(marks)], env=env, stdout=subprocess.PIPE, text=True
        )
        self.child = int(self.process.stdout.readline())
        self.tree = {self.child} | {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}

    def kill(self) -> None:
        self.tree |= {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        self.process.kill()
        self.process.wait()


@pytest.fixture
def starters() -> Iterator[list[Starter]]:
    made: list[Starter] = []
    yield made
    for starter in made:  # whatever a failed test left
        starter.process.kill()
        starter.process.wait()
        for pid in running(starter.tree):
            psutil.Process(pid).kill()


def running(pids: set[int]) -> set[int]:
    """The processes of ``pids`` still running (one that has exited and awaits its reaper is not)."""
    left = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.add(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def running_after(seconds: float, pids: set[int]) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := running(pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path.name} within 120 s"
        time.sleep(0.01)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_child_is_asked_to_stop_when_its_starter_is_killed(method, tmp_path, starters):
    """SIGKILL leaves the starter no chance to stop its child; the child's lifeline does, with
    SIGTERM, so it can clean up (a forkserver child's starter is the process that asked for it,
    and the forkserver goes once nobody it serves is left)."""
    starter = Starter(method, "held", tmp_path)
    starters.append(starter)
    wait_for(tmp_path / "held")
    starter.kill()
    assert not running_after(GONE_SECONDS, starter.tree)
    assert (tmp_path / "asked to stop").exists()


def test_a_child_that_ignores_sigterm_is_killed_after_its_grace(tmp_path, starters):
    starter = Starter("spawn", "deaf", tmp_path)
    starters.append(starter)
    wait_for(tmp_path / "held")
    starter.kill()
    assert not running_after(GONE_SECONDS, starter.tree)


def test_a_child_whose_starter_died_before_it_held_its_lifeline_is_asked_to_stop_too(tmp_path, starters):
    starter = Starter("spawn", "held_late", tmp_path)
    starters.append(starter)
    wait_for(tmp_path / "started")
    starter.kill()
    assert not running_after(GONE_SECONDS, starter.tree)
    assert (tmp_path / "asked to stop").exists()


@pytest.fixture
def fresh_sigterm_state(monkeypatch) -> None:
    for flag in ("_terminating", "_exiting", "_job_stopped", "_worker"):
        monkeypatch.setattr(workers, flag, False)


def sigterm_here() -> None:
    """The handler, called as the signal would call it, on the frame it interrupts."""
    workers._raise_terminated(signal.SIGTERM, sys._getframe(1))


def test_a_workers_sigterm_stops_a_job_once_refuses_the_next_and_ends_its_wait_for_one(
    fresh_sigterm_state, monkeypatch
):
    def wait_for_job() -> None:  # stands for the pool's wait on its call queue
        sigterm_here()

    monkeypatch.setattr(workers, "_worker", True)
    monkeypatch.setattr(workers, "_WAIT_FOR_JOB", wait_for_job.__code__)

    def job() -> str:
        with pytest.raises(workers.Terminated):
            sigterm_here()  # stops the job
        sigterm_here()  # ignored: the job unwinds
        return "unwound"

    assert workers._unless_terminating(job) == "unwound"
    with pytest.raises(workers.Terminated):
        workers._unless_terminating(job)  # a queued job is refused
    sigterm_here()  # ignored: between jobs (a result being sent back)
    with pytest.raises(workers.Terminated):
        wait_for_job()  # ends the worker
    workers._exit_begins()
    wait_for_job()  # ignored: the worker's exit cleans up


def test_the_drivers_sigterm_raises_once(fresh_sigterm_state):
    with pytest.raises(workers.Terminated):
        sigterm_here()
    sigterm_here()  # ignored: the driver cleans up


def begin_and_sleep(path: str) -> None:
    """A worker's job that writes its process id (whole, by a rename), then runs until stopped."""
    Path(f"{path}.part").write_text(str(os.getpid()))
    Path(f"{path}.part").rename(path)
    _sleep_forever()


def test_a_worker_whose_job_sigterm_stopped_leaves_its_wait_for_the_next_job_at_a_later_sigterm(tmp_path):
    """What a worker whose driver is gone needs: no driver will send it a job, or the word to
    exit, again. Its lifeline asks until a SIGTERM lands in that wait (one that lands while the
    worker sends a result back is ignored); so does this test."""
    runner = workers.ProcessRunner(1)
    begun = tmp_path / "begun"
    try:
        job = runner.submit(begin_and_sleep, str(begun))
        wait_for(begun)
        worker = int(begun.read_text())
        os.kill(worker, signal.SIGTERM)
        with pytest.raises(workers.Terminated):
            job.result(timeout=120)
        assert running({worker}), "the worker waits for its next job"
        deadline = time.monotonic() + 10.0
        while running({worker}) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):  # it went meanwhile
                os.kill(worker, signal.SIGTERM)
            time.sleep(lifeline.ASK_SECONDS)
        assert not running({worker})
    finally:
        if begun.exists():  # a failed check leaves the worker running: the pool would wait for it
            for pid in running({int(begun.read_text())}):
                os.kill(pid, signal.SIGKILL)
        runner.close()
