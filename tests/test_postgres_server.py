"""The server the postgres backends use: per-process, cleaned up, crashable, or external."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import psycopg
import pytest
from psycopg import sql
from umi_dst.backends.postgres.factory import exact_factory
from umi_dst.backends.postgres.server import (
    URL_ENV,
    EmbeddedServer,
    ExternalServer,
    PostgresUnavailable,
    server,
    sweep_orphaned_schemas,
    sweep_stale_data_dirs,
)

from umi_dst.registry import BackendUnavailable

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, os, signal, sys
from umi_dst.backends.postgres.server import server
s = server()
print(json.dumps({"data_dir": str(s.data_dir), "pid": s.pid, "url": s.url}), flush=True)
if sys.argv[1] == "fail":
    raise RuntimeError("a failing run")
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[1] == "unlocked":  # restarted, then as a postmaster still starting (a restart cut by SIGTERM)
    s.crash()
    s.restart()
    print(json.dumps({"data_dir": str(s.data_dir), "pid": s.pid, "url": s.url}), flush=True)
    os.rename(s.data_dir / "postmaster.pid", s.data_dir / "postmaster.moved")
"""


def run_child(mode: str, report: int = 0) -> dict:
    """Start a server in a fresh Python process that ends as ``mode`` says; report its server
    (as the child's line ``report`` describes it)."""
    env = {key: value for key, value in os.environ.items() if key != URL_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout, f"child started no server: {done.stderr}"
    return json.loads(done.stdout.splitlines()[report])


def assert_gone(child: dict) -> None:
    assert not Path(child["data_dir"]).exists(), f"data directory {child['data_dir']} left behind"
    assert not running(child["pid"]), f"server process {child['pid']} left running"


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited one awaiting its reaper is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def embedded(monkeypatch) -> EmbeddedServer:
    monkeypatch.delenv(URL_ENV, raising=False)
    found = server()
    assert isinstance(found, EmbeddedServer)
    return found


def test_each_process_runs_its_own_server_and_leaves_nothing_behind_even_on_failure(embedded):
    child = run_child("fail")
    assert child["url"] != embedded.url and child["data_dir"] != str(embedded.data_dir)
    assert_gone(child)


def test_server_of_a_killed_process_is_swept_by_the_next_one(embedded):
    killed = run_child("kill")
    assert Path(killed["data_dir"]).exists(), "a SIGKILLed process cannot clean up; the sweep must"
    assert_gone(run_child("exit"))
    assert_gone(killed)


def test_a_server_without_its_lock_file_yet_is_stopped_too(embedded):
    """A restart interrupted before the postmaster wrote its lock file: the process's exit
    used to delete the directory under a running server, which then ran on, orphaned."""
    assert_gone(run_child("unlocked", report=-1))


def test_server_is_started_once_per_process(embedded):
    assert server() is embedded
    assert psutil.Process(embedded.pid).name() == "postgres"


def test_crash_and_restart_keep_committed_rows_and_lose_uncommitted_ones(embedded):
    table = sql.Identifier(f"crash_{uuid.uuid4().hex[:8]}")
    with embedded.connect(autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE TABLE {} (n int)").format(table))
        connection.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
    pending = embedded.connect()
    pending.execute(sql.SQL("INSERT INTO {} VALUES (2)").format(table))
    postmaster = embedded.pid
    embedded.crash()
    assert not running(postmaster)
    embedded.restart()
    with embedded.connect(autocommit=True) as connection:
        assert connection.execute(sql.SQL("SELECT array_agg(n) FROM {}").format(table)).fetchone()[0] == [1]
        connection.execute(sql.SQL("DROP TABLE {}").format(table))
    with pytest.raises(psycopg.OperationalError):
        pending.commit()


def test_stores_are_made_and_dropped_across_a_crash(embedded, tmp_path):
    """The kept admin connection dies with the server; the next store gets a new one."""
    before = exact_factory(tmp_path, 4)
    embedded.crash()
    embedded.restart()
    after = exact_factory(tmp_path, 4)
    before.destroy()
    backend = after.open()
    backend.store("a", [1.0, 0.0, 0.0, 0.0])
    assert backend.count() == 1
    backend.close()
    after.destroy()


def test_embedded_server_skips_fsync_only(embedded):
    """Durable across a process crash (the test above) without waiting for the disk."""
    with embedded.connect() as connection:
        settings = dict(
            connection.execute("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')")
        )
    assert settings == {"fsync": "off", "synchronous_commit": "on"}


def test_external_url_is_honoured(embedded, monkeypatch, tmp_path):
    database = f"external_{uuid.uuid4().hex[:8]}"
    with embedded.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        url = embedded.url.replace("/postgres?", f"/{database}?")
        monkeypatch.setenv(URL_ENV, url)
        factory = exact_factory(tmp_path, 4)
        assert isinstance(factory.server, ExternalServer) and not factory.server.owned
        assert "crash_server" not in factory.nemeses, "only a server we own may be crashed"
        backend = factory.open()
        try:
            backend.store("x", np.ones(4, dtype=np.float32))
            found = backend.connection.execute("SELECT current_database()").fetchone()[0]
        finally:
            backend.close()
        assert found == database
        factory.destroy()
    finally:
        with embedded.connect(autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))


def test_a_factory_sent_to_another_process_reaches_the_same_store(embedded, tmp_path):
    factory = exact_factory(tmp_path, 4)
    try:
        writer = factory.open()
        writer.store("x", np.ones(4, dtype=np.float32))
        writer.close()
        clone = pickle.loads(pickle.dumps(factory))
        assert isinstance(clone.server, ExternalServer) and clone.server.url == embedded.url
        assert "crash_server" not in clone.nemeses, "another process does not own the server"
        reader = clone.open()
        assert reader.exists("x")
        reader.close()
    finally:
        factory.destroy()


_SCHEMA_CHILD = """
import os, signal
from umi_dst.backends.postgres.factory import exact_factory
factory = exact_factory(None, 4)
print(factory.schema, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def shared_memory_id(data_dir: Path) -> int:
    """The System V segment a server records on the seventh line of its postmaster.pid."""
    return int((data_dir / "postmaster.pid").read_text().splitlines()[6].split()[1])


def segment_exists(shmid: int) -> bool:
    return str(shmid) in subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize("postmaster", ["alive", "killed-too"])
def test_sweep_frees_the_shared_memory_of_a_killed_run(embedded, postmaster):
    killed = run_child("kill")
    shmid = shared_memory_id(Path(killed["data_dir"]))
    assert segment_exists(shmid)
    if postmaster == "killed-too":
        psutil.Process(killed["pid"]).kill()
        psutil.Process(killed["pid"]).wait(30)
    sweep_stale_data_dirs()
    assert_gone(killed)
    assert not segment_exists(shmid), f"shared memory segment {shmid} of the killed server left behind"


def test_schemas_of_a_killed_run_on_an_external_server_are_dropped_and_a_live_runs_are_kept(
    embedded, monkeypatch, tmp_path
):
    monkeypatch.setenv(URL_ENV, embedded.url)
    env = {**os.environ, URL_ENV: embedded.url}
    done = subprocess.run(
        [sys.executable, "-c", _SCHEMA_CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    orphan = done.stdout.strip()
    assert orphan.startswith("umi_dst_"), done.stderr
    assert schema_exists(embedded, orphan), "a SIGKILLed run cannot drop its schema"
    live = exact_factory(tmp_path, 4)  # the next run: it sweeps, and holds its own owner lock
    try:
        assert not schema_exists(embedded, orphan), "the next run on the server drops the killed run's schema"
        assert live.schema not in sweep_orphaned_schemas(ExternalServer(embedded.url)), "a live run's schema stays"
        assert schema_exists(embedded, live.schema)
    finally:
        live.destroy()


def schema_exists(embedded: EmbeddedServer, name: str) -> bool:
    with embedded.connect() as connection:
        return connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None


def test_an_external_server_that_lacks_pgvector_is_unavailable_not_a_failure(embedded, monkeypatch, tmp_path):
    """A role that may not create the extension, in a database without it: exit status 3."""
    database, role = f"novector_{uuid.uuid4().hex[:8]}", f"umi_{uuid.uuid4().hex[:8]}"
    with embedded.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    try:
        url = embedded.url.replace("postgresql://postgres:@", f"postgresql://{role}:hunter2@").replace(
            "/postgres?", f"/{database}?"
        )
        assert role in url and database in url
        monkeypatch.setenv(URL_ENV, url)
        with pytest.raises(PostgresUnavailable, match="pgvector") as raised:
            exact_factory(tmp_path, 4)
        assert isinstance(raised.value, BackendUnavailable) and "hunter2" not in str(raised.value)
    finally:
        with embedded.connect(autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_password_never_shows(monkeypatch, tmp_path):
    url = "postgresql://umi:hunter2@127.0.0.1:1/nowhere?connect_timeout=5"
    monkeypatch.setenv(URL_ENV, url)
    assert "hunter2" not in repr(server())
    with pytest.raises(PostgresUnavailable) as raised:
        exact_factory(tmp_path, 4)
    assert "hunter2" not in str(raised.value) and "umi:***@" in str(raised.value)


_TEMPLATE_CHILD = """
import json
from umi_dst.backends.postgres import template
from umi_dst.backends.postgres.server import server
s = server()
with s.connect(autocommit=True) as connection:
    connection.execute("CREATE TABLE mine (n int)")
path = template.template_path()
print(json.dumps({"data_dir": str(s.data_dir), "pid": s.pid, "template": str(path), "inode": path.stat().st_ino}), flush=True)
"""


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path: a server's socket path must fit in 107 bytes,
    and pytest's own ``tmp_path`` under xdist is too long for it."""
    path = Path(tempfile.mkdtemp(prefix="t-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_servers_start_from_one_template_made_once_even_by_racing_processes(short_tmp):
    """Two processes that find no template make it once between them; each server is its own
    cluster (a table made in one is not in the template nor in the next), and a later process
    copies the same template instead of running initdb again."""
    env = {key: value for key, value in os.environ.items() if key != URL_ENV} | {"TMPDIR": str(short_tmp)}

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", _TEMPLATE_CHILD],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(child: subprocess.Popen) -> dict:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out, f"child failed: {err}"
        return json.loads(out.splitlines()[0])

    racing = [start(), start()]
    first, second = (result(child) for child in racing)
    third = result(start())
    assert first["template"] == second["template"] == third["template"]
    assert first["inode"] == second["inode"] == third["inode"], "the template was made more than once"
    ours = sorted(path.name for path in short_tmp.glob("umi-*") if not path.name.endswith(".lock"))
    assert ours == [Path(first["template"]).name], "a staging directory or a server's directory was left"
    for child in (first, second, third):
        assert_gone(child)
    assert not list(Path(first["template"]).glob("postmaster.*")), "the template holds a run's files"
