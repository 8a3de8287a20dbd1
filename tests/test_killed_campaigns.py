"""Campaigns stopped from outside leave nothing behind.

- Killed with SIGKILL at random moments, run as one process (so nothing of it can clean up):
  nothing is left once the next run has started (its sweep). Slow: about ten minutes per backend
  on a loaded machine (``pytest -m slow tests/test_killed_campaigns.py``).
- Their driver killed with SIGKILL: its workers, their helper processes and servers, and the
  resource tracker are gone within 10 s (the workers' lifelines). The Sim's in the default run,
  Lance's and PostgreSQL's slow.
- Terminated with SIGTERM: nothing is left at all, at every moment tried (while a server's
  template is made, and in the shards).

Every campaign runs with its own ``TMPDIR``, so what it leaves is told apart from what other
runs on the machine own. The kill times come from a seeded generator: the same moments on
every run of the test. A test may wait for a moment or for processes to go, up to a deadline;
its verdict never depends on how long that took.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

pytest.importorskip("psycopg")

from umi_dst.backends.postgres.server import URL_ENV, EmbeddedServer, server  # noqa: E402
from umi_dst.backends.postgres.template import TEMPLATE_PREFIX  # noqa: E402  (a cache the next run reuses, not a leftover)

REPO = Path(__file__).resolve().parents[1]
KILLS = 10
BACKENDS = {"lance": "lance", "postgres": "postgres", "postgres-external": "postgres"}
START_SECONDS = 300.0
"""How long a campaign may take to reach the moment a test waits for (imports, a template)."""
GONE_SECONDS = 10.0
"""How long a stopped campaign's processes may take to be gone."""


def campaign(spec: str, out: Path, examples: int, seed: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "umi_dst.cli", "run", "--backend", spec, "--examples", str(examples), "--steps", "20",
        "--seed", str(seed), "--seeds-dir", str(out / "seeds"), "--report-dir", str(out / "reports"), "--workers", str(workers),
    ]  # fmt: skip


def environment(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}
    env.pop(URL_ENV, None)
    return env


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A campaign's own TMPDIR, with a short path: a server's socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="t-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def left_in(tmp: Path) -> dict[str, object]:
    """What the runs in ``tmp`` have now: directories, server processes, shared memory segments."""
    data_dirs = sorted(tmp.glob("umi-dst-pg-*"))
    segments = set()
    for data_dir in data_dirs:
        try:
            segments.add(int((data_dir / "postmaster.pid").read_text().splitlines()[6].split()[1]))
        except (OSError, IndexError, ValueError):
            pass
    processes = set()
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            if any(str(tmp) in part for part in process.info["cmdline"] or ()) or (process.info["environ"] or {}).get(
                "TMPDIR"
            ) == str(tmp):
                if process.status() != psutil.STATUS_ZOMBIE:
                    processes.add(process.pid)
        except (psutil.Error, TypeError):
            pass
    entries = sorted(
        p.name for p in tmp.iterdir() if p.name.startswith("umi") and not p.name.startswith(TEMPLATE_PREFIX)
    )
    return {"entries": entries, "processes": processes, "segments": segments}


def alive(pids: set[int]) -> set[int]:
    """The processes of ``pids`` still running (one that has exited and awaits its reaper is not)."""
    running = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.add(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def left_after(seconds: float, tmp: Path, pids: set[int]) -> set[int]:
    """The processes of ``pids``, and those of the runs in ``tmp``, still running once they
    have all gone or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while (left := alive(pids) | left_in(tmp)["processes"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def descendants(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


def kill_what_is_left(tmp: Path, pids: set[int]) -> None:
    """After a failed check: stop what the test started, so it does not outlive the test."""
    for pid in alive(pids) | left_in(tmp)["processes"]:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def wait_for(condition: Callable[[], bool], run: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not condition():
        assert run.poll() is None, f"the campaign exited ({run.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {START_SECONDS}s"
        time.sleep(0.02)


def wait_for_campaign(tmp: Path, process: subprocess.Popen, timeout: float = 300.0) -> bool:
    """Until the campaign has made its scratch directory (imports take long on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(tmp.glob("umi-campaign-*")):
            return True
        time.sleep(0.05)
    return False


class ShardsRunning:
    """True once ``workers`` processes have each made a shard's scratch directory (each shard
    makes one and removes it, so the owners seen are remembered) and, for PostgreSQL, each
    worker's server is up."""

    def __init__(self, tmp: Path, workers: int, postgres: bool) -> None:
        self.tmp, self.workers, self.postgres = tmp, workers, postgres
        self.owners: set[str] = set()

    def __call__(self) -> bool:
        self.owners |= {
            m.group(1) for path in self.tmp.glob("umi-campaign-*") if (m := re.match(r"umi-campaign-(\d+)-", path.name))
        }
        return len(self.owners) >= self.workers and (not self.postgres or servers_up(self.tmp) >= self.workers)


def servers_up(tmp: Path) -> int:
    """Servers ready in ``tmp``, counted once the template is made (it is made by a server too)."""
    if not any((path / "PG_VERSION").is_file() for path in tmp.glob(f"{TEMPLATE_PREFIX}*")):
        return 0
    ready = 0
    for data_dir in tmp.glob("umi-dst-pg-*"):
        try:
            ready += (data_dir / "postmaster.pid").read_text().splitlines()[7].strip() == "ready"
        except (OSError, IndexError):
            pass
    return ready


def initdb_runs(tmp: Path) -> bool:
    """Whether initdb's backend (``postgres --boot`` or ``--single``) works in a directory of ``tmp``."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "--boot" in cmdline or "--single" in cmdline:
            try:
                if process.environ().get("PGDATA", "").startswith(f"{tmp}/"):
                    return True
            except psutil.Error:
                pass
    return False


def postmasters(tmp: Path) -> set[int]:
    """Running servers of data directories in ``tmp``."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(cmdline[i] == "-D" and cmdline[i + 1].startswith(f"{tmp}/") for i in range(len(cmdline) - 1)):
            found.add(process.pid)
    return alive(found)


def live_segments(ids: set[int]) -> set[int]:
    listed = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout.split()
    return {shmid for shmid in ids if str(shmid) in listed}


def schemas(embedded: EmbeddedServer) -> set[str]:
    with embedded.connect() as connection:
        return {
            row[0] for row in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'umi\\_dst\\_%'")
        }


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_killed_campaign_leaves_nothing_after_the_next_run(backend, tmp_path, monkeypatch):
    """One process runs the campaign and owns its server, so SIGKILL leaves everything to the
    next run's sweep."""
    spec = BACKENDS[backend]
    rng = random.Random(f"kill {backend}")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = environment(tmp)
    embedded = None
    if backend == "postgres-external":
        monkeypatch.delenv(URL_ENV, raising=False)
        embedded = server()  # this process's own server, standing in for an external one
        env[URL_ENV] = embedded.url
        before = schemas(embedded)
    seen: dict[str, set] = {"entries": set(), "segments": set(), "schemas": set()}
    for kill in range(KILLS):
        killed = subprocess.Popen(campaign(spec, tmp_path, 10_000, kill, workers=1), cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        started = wait_for_campaign(tmp, killed)
        time.sleep(rng.uniform(0.0, 6.0))  # a random moment of the campaign: server start, a write, a shrink
        children = descendants(killed.pid)
        killed.kill()
        killed.wait()
        state = left_in(tmp)
        seen["entries"].update(state["entries"])
        assert started, f"kill {kill}: the campaign never started"
        seen["segments"].update(state["segments"])
        if embedded is not None:
            seen["schemas"].update(schemas(embedded) - before)

        subprocess.run(campaign(spec, tmp_path, 1, 0, workers=1), cwd=REPO, env=env, capture_output=True, timeout=600)

        after = left_in(tmp)
        assert not after["entries"], f"kill {kill}: left in TMPDIR: {after['entries']}"
        left = left_after(GONE_SECONDS, tmp, children)
        assert not left, f"kill {kill}: processes of the killed campaign or of the next run still running: {left}"
        assert not live_segments(seen["segments"]), (
            f"kill {kill}: shared memory left: {live_segments(seen['segments'])}"
        )
        if embedded is not None:
            assert not schemas(embedded) - before, f"kill {kill}: schemas left: {schemas(embedded) - before}"
    assert any(name.startswith("umi-campaign-") for name in seen["entries"]), "kills landed mid-campaign"
    if spec == "postgres" and embedded is None:
        assert seen["segments"], "some kill left a server with shared memory to sweep"
    if embedded is not None:
        assert seen["schemas"], "some kill left a schema to sweep"


@pytest.mark.parametrize(
    "backend", ["sim", pytest.param("lance", marks=pytest.mark.slow), pytest.param("postgres", marks=pytest.mark.slow)]
)
def test_the_workers_of_a_campaign_whose_driver_is_killed_are_gone_within_10_s(backend, short_tmp, tmp_path):
    """SIGKILL reaches only the driver, which cleans up nothing: each worker's lifeline
    terminates it, and it cleans up and exits as if the driver had passed SIGTERM on, with its
    helper processes (Lance: the forkserver and a competing writer) and its server (PostgreSQL);
    the resource tracker exits once nobody holds its pipe."""
    run = subprocess.Popen(campaign(backend, tmp_path, 10_000, 0, workers=2), cwd=REPO, env=environment(short_tmp),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    tracked: set[int] = set()
    try:
        wait_for(ShardsRunning(short_tmp, 2, postgres=backend == "postgres"), run, "two workers in their shards")
        if backend == "lance":
            wait_for(lambda: helpers_of(run.pid), run, "a helper forked by a worker's forkserver")
        tracked = descendants(run.pid) | postmasters(short_tmp)
        run.kill()
        run.wait()
        left = left_after(GONE_SECONDS, short_tmp, tracked)
        assert not left, f"still running {GONE_SECONDS}s after the driver was killed: {left}"
        assert not postmasters(short_tmp)
        assert not left_in(short_tmp)["entries"], "the workers exited without cleaning up"
    finally:
        kill_what_is_left(short_tmp, tracked | {run.pid})


def helpers_of(pid: int) -> set[int]:
    """Processes forked by the forkservers among the descendants of ``pid``."""
    found = set()
    for process in psutil.Process(pid).children(recursive=True):
        try:
            if "multiprocessing.forkserver import main" in " ".join(process.cmdline()):
                found |= {child.pid for child in process.children()}
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("moment, workers", [("making-the-template", 2), ("in-the-shards", 1), ("in-the-shards", 2)])
def test_a_terminated_campaign_stops_its_workers_and_leaves_nothing(moment, workers, short_tmp, tmp_path):
    """SIGTERM (a CI timeout) reaches only the driver: it passes the signal on to its workers,
    each stops its own embedded server, and the run exits 143 with nothing left to sweep. While
    the template is made, initdb's backends run on after the interrupt has killed initdb, and
    write into the staging directory as it is deleted (it was left, holding only ``base``,
    about one run in ten when the moment was left to chance)."""
    run = subprocess.Popen(campaign("postgres", tmp_path, 10_000, 0, workers), cwd=REPO, env=environment(short_tmp),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    tracked: set[int] = set()
    try:
        if moment == "making-the-template":
            wait_for(lambda: initdb_runs(short_tmp), run, "initdb making the template")
        else:
            wait_for(
                ShardsRunning(short_tmp, workers, postgres=True), run, "every worker in its shards with its server up"
            )
        tracked = descendants(run.pid) | postmasters(short_tmp)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 143, stderr
        assert "terminated" in stderr
        state = left_in(short_tmp)
        assert not state["entries"], f"left in TMPDIR: {state['entries']}"
        left = left_after(GONE_SECONDS, short_tmp, tracked)
        assert not left, f"processes still running: {left}"
        assert not live_segments(state["segments"])
    finally:
        kill_what_is_left(short_tmp, tracked | {run.pid})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost exception, on purpose
def test_a_termination_lost_in_a_garbage_collector_callback_stops_the_next_step(tmp_path, monkeypatch):
    """SIGTERM's exception, raised inside a ``__del__``, is only printed by Python; the flag it
    left stops the machine at its next step instead of the end of its shard."""
    from hypothesis import settings

    from umi_dst.campaign import workers
    from umi_dst.generation.machine import run_contract_machine

    monkeypatch.setattr(workers, "_terminating", False)
    monkeypatch.setattr(workers, "_exiting", False)

    class DiesOnSigterm:
        def __del__(self) -> None:
            workers._raise_terminated(signal.SIGTERM, None)

    DiesOnSigterm()  # collected at once: the exception is printed and lost
    assert workers._terminating
    with pytest.raises(workers.Terminated):
        run_contract_machine("sim", dim=4, workdir=tmp_path, settings=settings(max_examples=5, database=None))
