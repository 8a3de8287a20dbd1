"""A campaign: run the contract machine against one backend, save a shrunk failure as a seed.

The shrunk failure is written as a seed file and verified by ``failure_seeds.save_failure``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import run_state_machine_as_test

from umi_dst import leftovers, registry, seeds
from umi_dst.failure_seeds import save_failure
from umi_dst.machine import MachineConfig, contract_machine


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
    with leftovers.scratch_directory("campaign", workdir) as scratch:
        machine = contract_machine(builder, dim=dim, workdir=Path(scratch), config=config)
        machine.record.on_example = on_example
        if seed is not None:
            machine = hypothesis_seed(seed)(machine)
        try:
            run_state_machine_as_test(machine, settings=campaign_settings(examples, steps))
            error = None
        except registry.BackendUnavailable:  # the environment, not the backend, failed: no finding
            raise
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
    saved = save_failure(
        failure, backend=spec, dim=dim, versions=versions, seeds_dir=seeds_dir, workdir=workdir
    )
    result.seed_path = saved.path
    result.failure = saved.seed.failure["message"]
    result.reproduced = saved.reproduced
    return result
