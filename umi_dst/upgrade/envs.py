"""One cached virtual environment per pinned older release, made from the package registry.

An environment is keyed by its requirement (``lancedb==0.30.2``): ``python -m venv`` then
``pip install`` of that requirement alone, so pip resolves the dependencies that release
declares, apart from this interpreter's packages. It is built in a temporary directory and
renamed into place only once pip has finished and the engine imports, so a half-made
environment (a killed build, a failed install) is never found and reused. The cache is
``$UMI_DST_ENV_CACHE`` or ``~/.cache/umi-dst/envs``; ``umi-dst upgrade --remove-envs``
deletes it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from umi_dst.contract import InvalidInput

CACHE_VARIABLE = "UMI_DST_ENV_CACHE"
REQUIREMENT = re.compile(r"(?P<name>lancedb)==(?P<version>[0-9]+(\.[0-9]+){1,3})")
"""The releases an environment may pin: a seed file names one, so only an exact version of a
known engine is accepted (never a URL, a path or a range)."""
DRIVER_NEEDS = ("numpy", "pyarrow")
"""Installed beside the engine, at versions pip finds compatible with it: the driver imports
them, and some releases import them without declaring them (lancedb 0.21.2 lacks numpy)."""
READY = "requirement.txt"
"""Written last inside a finished environment: the requirement it was made for."""


class EnvironmentFailed(RuntimeError):
    """The registry or pip could not make the environment (not a finding about the engine)."""


def check_requirement(requirement: str) -> str:
    """``requirement`` if it pins an exact release of a supported engine, else ``InvalidInput``."""
    if not isinstance(requirement, str) or not REQUIREMENT.fullmatch(requirement):
        raise InvalidInput(
            f"older release {requirement!r} is not allowed: name one exact release, like lancedb==0.30.2"
        )
    return requirement


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "umi-dst" / "envs"


def env_dir(requirement: str) -> Path:
    return cache_dir() / check_requirement(requirement).replace("==", "-")


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def ensure_env(requirement: str, log=None) -> Path:
    """The interpreter of the environment for ``requirement``, made now if it is not cached."""
    target = env_dir(requirement)
    if (target / READY).is_file():
        return python_of(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".building-{target.name}-", dir=target.parent))
    try:
        if log:
            log(f"creating the environment for {requirement} in {target}")
        _run([sys.executable, "-m", "venv", str(building)], requirement)
        python = python_of(building)
        _run([str(python), "-m", "pip", "install", "--quiet", requirement, *DRIVER_NEEDS], requirement)
        name = REQUIREMENT.fullmatch(requirement)["name"]
        _run([str(python), "-c", f"import {name}, numpy, pyarrow"], requirement)
        (building / READY).write_text(requirement + "\n")
        try:
            os.rename(building, target)
        except OSError:
            if not (target / READY).is_file():  # not a concurrent builder's finished environment
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python_of(target)


def _run(command: list[str], requirement: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvironmentFailed(
            f"making the environment for {requirement} failed at {' '.join(command[-3:])!r}: "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )


def remove_envs() -> list[Path]:
    """Delete every cached environment (and any half-made one); return what was removed."""
    root = cache_dir()
    removed = sorted(root.iterdir()) if root.is_dir() else []
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
