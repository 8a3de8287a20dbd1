"""Replay a seed file step by step through the same ``Harness`` the machine used."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from umi_dst import registry, seeds
from umi_dst.harness import Harness


@dataclass
class ReplayResult:
    backend: str
    reproduced: bool
    at_step: int | None
    """Index of the step that failed, ``None`` for the final checks (or when it passed)."""
    message: str
    error: BaseException | None = None

    def summary(self) -> str:
        if not self.reproduced:
            return f"PASS on {self.backend}: every step and the final checks agree with the oracle"
        where = "the final checks" if self.at_step is None else f"step {self.at_step}"
        return f"FAIL on {self.backend} at {where}: {self.message}"


def replay_file(
    path: Path, backend: str | None = None, workdir: Path | None = None, log: Callable[[str], None] | None = None
) -> ReplayResult:
    """Replay ``path`` against ``backend`` (default: the seed's own); never raises on a failure."""
    return replay(seeds.load(path), backend, workdir, log)


def replay(
    seed: seeds.SeedFile, backend: str | None = None, workdir: Path | None = None, log: Callable[[str], None] | None = None
) -> ReplayResult:
    spec = backend or seed.backend
    with tempfile.TemporaryDirectory(prefix="umi-replay-", dir=workdir) as scratch:
        factory = registry.build(spec, Path(scratch), seed.dim)
        try:
            harness = Harness(factory, log=log)
            at_step: int | None = None
            try:
                for at_step, step in enumerate(seed.steps):
                    harness.run(step)
                at_step = None
                harness.finish()
            except Exception as error:
                message = f"{type(error).__name__}: {getattr(error, 'message', error)}"
                if log:
                    log(f"  diverged: {message}")
                return ReplayResult(spec, True, at_step, message, error)
            finally:
                harness.close()
        finally:
            factory.destroy()
    return ReplayResult(spec, False, None, "")
