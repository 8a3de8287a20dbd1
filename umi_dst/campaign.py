"""A campaign: run the contract machine against one backend, save a shrunk failure as a seed.

After Hypothesis has shrunk a failure, the machine's record holds the steps of the last failing
run (the minimal one). They are written as a seed file, then replayed without Hypothesis to
confirm that the seed reproduces on its own.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import run_state_machine_as_test

from umi_dst import registry, seeds
from umi_dst.machine import MachineConfig, contract_machine
from umi_dst.operations import READ_ONLY
from umi_dst.replay import replay


@dataclass
class CampaignResult:
    backend: str
    dim: int
    examples_run: int
    seconds: float
    passed: bool
    seed_path: Path | None = None
    failure: str = ""
    reproduced: bool | None = None
    """Whether the written seed failed again when replayed without Hypothesis."""
    versions: dict[str, str] | None = None


def campaign_settings(examples: int, steps: int) -> Settings:
    """Random search unless a seed is given; the example database stays out of the way."""
    return Settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


def run_campaign(
    spec: str,
    *,
    dim: int,
    examples: int,
    steps: int,
    seed: int | None,
    seeds_dir: Path,
    workdir: Path | None = None,
    config: MachineConfig = MachineConfig(),
    on_example: Callable[[], None] | None = None,
) -> CampaignResult:
    """Search for a contract violation in ``spec``; write and verify a seed if one is found."""
    builder = registry.resolve(spec)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="umi-campaign-", dir=workdir) as scratch:
        machine = contract_machine(builder, dim=dim, workdir=Path(scratch), config=config)
        machine.record.on_example = on_example
        if seed is not None:
            machine = hypothesis_seed(seed)(machine)
        try:
            run_state_machine_as_test(machine, settings=campaign_settings(examples, steps))
            error = None
        except Exception as exc:  # any failure of the backend under test is a finding
            error = exc
    versions = seeds.software_versions(machine.record.versions)
    result = CampaignResult(spec, dim, machine.record.examples, time.perf_counter() - started, error is None)
    result.versions = versions
    failure = machine.record.failure
    if error is None or failure is None:
        if error is not None:
            result.failure = f"{type(error).__name__}: {error}"
        return result
    seed_file = seeds.SeedFile(
        backend=spec,
        dim=dim,
        steps=failure.steps,
        failure=seeds.failure_record(failure.error, failure.at_step),
        versions=versions,
    )
    seed_file = _without_passing_reads(seed_file, workdir) or seed_file
    result.seed_path = seeds.write(seed_file, seeds_dir)
    result.failure = seed_file.failure["message"]
    result.reproduced = replay(seed_file, workdir=workdir).reproduced
    return result


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
