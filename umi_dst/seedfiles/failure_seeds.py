"""Turn a machine's recorded failure into a written, verified seed file.

After Hypothesis has shrunk a failure, the machine's record holds the steps of the last failing
run (the minimal one). ``save_failure`` writes them as a seed file, trimmed of passing reads when
the failure survives without them, then replays it without Hypothesis to confirm it reproduces
on its own. Campaigns and the pytest plugin both save failures through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from umi_dst.generation.machine import Failure
from umi_dst.html import seed_page
from umi_dst.operations import READ_ONLY
from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.replay import replay


@dataclass(frozen=True)
class SavedSeed:
    path: Path
    seed: seeds.SeedFile
    reproduced: bool
    """Whether the written seed failed again when replayed without Hypothesis."""


def save_failure(
    failure: Failure,
    *,
    backend: str,
    dim: int,
    versions: dict[str, str],
    seeds_dir: Path,
    workdir: Path | None = None,
) -> SavedSeed:
    """Write ``failure`` as ``<seeds_dir>/<backend>/<digest>.json`` and replay it once."""
    seed_file, reproduced = verified_seed(failure, backend=backend, dim=dim, versions=versions, workdir=workdir)
    path = seeds.write(seed_file, seeds_dir)
    seed_page.write_beside(path)
    return SavedSeed(path, seed_file, reproduced)


def verified_seed(
    failure: Failure, *, backend: str, dim: int, versions: dict[str, str], workdir: Path | None = None
) -> tuple[seeds.SeedFile, bool]:
    """The seed of ``failure``, not yet written, and whether it reproduces without Hypothesis.

    For workers that hand seeds back to the process that writes them.
    """
    seed_file = seeds.SeedFile(
        backend=backend,
        dim=dim,
        steps=failure.steps,
        failure=seeds.failure_record(failure.error, failure.at_step),
        versions=versions,
    )
    seed_file = _without_passing_reads(seed_file, workdir) or seed_file
    return seed_file, replay(seed_file, workdir=workdir).reproduced


def _without_passing_reads(seed_file: seeds.SeedFile, workdir: Path | None) -> seeds.SeedFile | None:
    """The seed without the read-only steps that passed, if it still fails without them.

    Hypothesis shrinks rule calls, and some rules make several steps (every defect of a call,
    every near-duplicate of an id). Reads and rejected bad input change nothing in the oracle,
    so dropping them keeps the trace meaningful; the shorter seed is kept only if it still
    fails at the same step with the same message.
    """
    failing = seed_file.failure["step"]
    kept = [(i, s) for i, s in enumerate(seed_file.steps) if not isinstance(s.op, READ_ONLY) or i == failing]
    if len(kept) == len(seed_file.steps):
        return None
    at_step = next((new for new, (old, _) in enumerate(kept) if old == failing), None)
    candidate = dataclasses.replace(seed_file, steps=[s for _, s in kept])
    outcome = replay(candidate, workdir=workdir)
    if not outcome.reproduced or outcome.at_step != at_step or outcome.message != _message(seed_file):
        return None
    candidate.failure = seeds.failure_record(outcome.error, at_step)
    return candidate


def _message(seed_file: seeds.SeedFile) -> str:
    return f"{seed_file.failure['error']}: {seed_file.failure['message']}"
