"""A campaign killed with SIGKILL at random moments leaves nothing once the next run has started;
one terminated with SIGTERM leaves nothing at all.

The SIGKILL tests are slow (about ten minutes per backend on a loaded machine):
``pytest -m slow tests/test_killed_campaigns.py``.
Every campaign runs with its own ``TMPDIR``, so what it leaves is told apart from what other
runs on the machine own. The kill times come from a seeded generator: the same moments on
every run of the test.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("psycopg")

from backends.postgres.server import URL_ENV, EmbeddedServer, server  # noqa: E402
from backends.postgres.template import TEMPLATE_PREFIX  # noqa: E402  (a cache the next run reuses, not a leftover)

REPO = Path(__file__).resolve().parents[1]
KILLS = 10
BACKENDS = {"lance": "lance", "postgres": "postgres", "postgres-external": "postgres"}


def campaign(spec: str, tmp: Path, out: Path, env: dict[str, str], examples: int, seed: int) -> list[str]:
    return [
        sys.executable, "-m", "umi_dst.cli", "run", "--backend", spec, "--examples", str(examples), "--steps", "20",
        "--seed", str(seed), "--seeds-dir", str(out / "seeds"), "--report-dir", str(out / "reports"),
    ]  # fmt: skip


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
            if any(str(tmp) in part for part in process.info["cmdline"] or ()) or (process.info["environ"] or {}).get("TMPDIR") == str(tmp):
                if process.status() != psutil.STATUS_ZOMBIE:
                    processes.add(process.pid)
        except (psutil.Error, TypeError):
            pass
    entries = sorted(p.name for p in tmp.iterdir() if p.name.startswith("umi") and not p.name.startswith(TEMPLATE_PREFIX))
    return {"entries": entries, "processes": processes, "segments": segments}


def wait_for_campaign(tmp: Path, process: subprocess.Popen, timeout: float = 300.0) -> bool:
    """Until the campaign has made its scratch directory (imports take long on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(tmp.glob("umi-campaign-*")):
            return True
        time.sleep(0.05)
    return False


def live_segments(ids: set[int]) -> set[int]:
    listed = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout.split()
    return {shmid for shmid in ids if str(shmid) in listed}


def schemas(embedded: EmbeddedServer) -> set[str]:
    with embedded.connect() as connection:
        return {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'umi\\_dst\\_%'")}


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_killed_campaign_leaves_nothing_after_the_next_run(backend, tmp_path, monkeypatch):
    spec = BACKENDS[backend]
    rng = random.Random(f"kill {backend}")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}
    env.pop(URL_ENV, None)
    embedded = None
    if backend == "postgres-external":
        monkeypatch.delenv(URL_ENV, raising=False)
        embedded = server()  # this process's own server, standing in for an external one
        env[URL_ENV] = embedded.url
        before = schemas(embedded)
    seen: dict[str, set] = {"entries": set(), "segments": set(), "schemas": set()}
    for kill in range(KILLS):
        killed = subprocess.Popen(campaign(spec, tmp, tmp_path, env, 10_000, kill), cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        started = wait_for_campaign(tmp, killed)
        time.sleep(rng.uniform(0.0, 6.0))  # a random moment of the campaign: server start, a write, a shrink
        children = {child.pid for child in psutil.Process(killed.pid).children(recursive=True)}
        killed.kill()
        killed.wait()
        state = left_in(tmp)
        seen["entries"].update(state["entries"])
        assert started, f"kill {kill}: the campaign never started"
        seen["segments"].update(state["segments"])
        if embedded is not None:
            seen["schemas"].update(schemas(embedded) - before)

        subprocess.run(campaign(spec, tmp, tmp_path, env, 1, 0), cwd=REPO, env=env, capture_output=True, timeout=600)

        after = left_in(tmp)
        assert not after["entries"], f"kill {kill}: left in TMPDIR: {after['entries']}"
        assert not after["processes"], f"kill {kill}: processes still running: {after['processes']}"
        assert not {pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}, (
            f"kill {kill}: a child of the killed campaign outlived the next run"
        )
        assert not live_segments(seen["segments"]), f"kill {kill}: shared memory left: {live_segments(seen['segments'])}"
        if embedded is not None:
            assert not schemas(embedded) - before, f"kill {kill}: schemas left: {schemas(embedded) - before}"
    assert any(name.startswith("umi-campaign-") for name in seen["entries"]), "kills landed mid-campaign"
    if spec == "postgres" and embedded is None:
        assert seen["segments"], "some kill left a server with shared memory to sweep"
    if embedded is not None:
        assert seen["schemas"], "some kill left a schema to sweep"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_terminated_campaign_stops_its_workers_and_leaves_nothing(workers, tmp_path):
    """SIGTERM (a CI timeout) reaches only the driver: it passes the signal on to its workers,
    each stops its own embedded server, and the run exits 143 with nothing left to sweep."""
    tmp = Path(tempfile.mkdtemp(prefix="t-"))  # short: a server's socket path must fit in 107 bytes
    try:
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}
        env.pop(URL_ENV, None)
        run = subprocess.Popen(campaign("postgres", tmp, tmp_path, env, 10_000, 0) + ["--workers", str(workers)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 300
        def servers_started() -> bool:  # the first one has made the template; each has a directory
            return any(tmp.glob(f"{TEMPLATE_PREFIX}*")) and len(list(tmp.glob("umi-dst-pg-*"))) == workers

        while not servers_started() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert servers_started(), "each worker should have started a server"
        time.sleep(1.0)  # into the shards, or still starting a server: either must be cleaned up
        children = {child.pid for child in psutil.Process(run.pid).children(recursive=True)}
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 143, stderr
        assert "terminated" in stderr
        state = left_in(tmp)
        assert not state["entries"], f"left in TMPDIR: {state['entries']}"
        assert not state["processes"], f"processes still running: {state['processes']}"
        assert not {pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}
        assert not live_segments(state["segments"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost exception, on purpose
def test_a_termination_lost_in_a_garbage_collector_callback_stops_the_next_step(tmp_path, monkeypatch):
    """SIGTERM's exception, raised inside a ``__del__``, is only printed by Python; the flag it
    left stops the machine at its next step instead of the end of its shard."""
    from hypothesis import settings

    from umi_dst import workers
    from umi_dst.machine import run_contract_machine

    monkeypatch.setattr(workers, "_terminating", False)
    handler = signal.getsignal(signal.SIGTERM)

    class DiesOnSigterm:
        def __del__(self) -> None:
            workers._raise_terminated(signal.SIGTERM, None)

    try:
        DiesOnSigterm()  # collected at once: the exception is printed and lost
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert workers._terminating
    with pytest.raises(workers.Terminated):
        run_contract_machine("sim", dim=4, workdir=tmp_path, settings=settings(max_examples=5, database=None))
