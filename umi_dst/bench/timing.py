"""Clocks and gauges: per-call latency summaries, peak resident memory, size on disk."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np
import psutil

T = TypeVar("T")
R = TypeVar("R")


def seconds(action: Callable[[], T]) -> tuple[float, T]:
    """Wall time of one call, and what it returned."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def latencies(action: Callable[[T], object], inputs: Iterable[T]) -> list[float]:
    """Wall time in seconds of ``action(x)`` for each input, one call at a time."""
    return timed_calls(action, inputs)[0]


def timed_calls(action: Callable[[T], R], inputs: Iterable[T]) -> tuple[list[float], list[R]]:
    """Wall time in seconds of ``action(x)`` for each input, and what each call returned."""
    times, results = [], []
    for x in inputs:
        start = time.perf_counter()
        results.append(action(x))
        times.append(time.perf_counter() - start)
    return times, results


def summary(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds and calls per second (one caller, back to back)."""
    values = np.asarray(samples, dtype=np.float64)
    return {
        "p50_ms": float(np.percentile(values, 50) * 1e3),
        "p95_ms": float(np.percentile(values, 95) * 1e3),
        "p99_ms": float(np.percentile(values, 99) * 1e3),
        "mean_ms": float(values.mean() * 1e3),
        "per_s": float(len(values) / values.sum()) if values.sum() > 0 else float("inf"),
        "calls": len(values),
    }


class PeakMemory:
    """Samples this process's resident set in a thread; ``peak_mib`` is the rise above the start.

    Engines written in Rust or C (Lance, libpq) allocate outside Python's allocator, so
    tracemalloc would not see them; the resident set does.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self._process = psutil.Process(os.getpid())
        self._interval = interval
        self._stop = threading.Event()
        self._start = self._peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def peak_mib(self) -> float:
        return (max(self._peak, self._process.memory_info().rss) - self._start) / 2**20


def disk_mib(path: Path) -> float:
    """Bytes of every file under ``path``, in MiB (0 if it does not exist)."""
    if not path.exists():
        return 0.0
    total = sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())
    return total / 2**20
