"""One shard of a backend's contract machine under pytest: run it, fingerprint it, keep a failure.

The contract machine of a backend is cut into shards (``umi_dst.campaign.shards``): shard ``i`` runs its
share of the profile's test cases under its own Hypothesis seed, so the cases do not depend on
how many pytest workers run the shards (nor, see ``determinism``, on what they imported
before). A failure is saved as a seed file (the same format and naming as a campaign's) and
raised as ``ContractFailure``, whose message shows the seed, the command that replays it and
the steps as ``umi-dst replay`` prints them, before Hypothesis's own report. Every run records a fingerprint of the steps it ran, so two runs can be compared.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from umi_dst import registry, strict_json
from umi_dst.campaign.shards import Shard, sub_seed
from umi_dst.generation.determinism import seed_only_generation
from umi_dst.generation.machine import MachineConfig, contract_machine
from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.codec import encode_step
from umi_dst.seedfiles.failure_seeds import SavedSeed, save_failure
from umi_dst.seedfiles.replay import replay

SEED_PROPERTY = "umi_seed"
"""JUnit XML property naming the seed file a failing contract item wrote."""
CASES_PROPERTY = "umi_cases"
"""JUnit XML property: how many test cases ran and a fingerprint of their steps."""


class ContractFailure(AssertionError):
    """A contract violation found under pytest; the message is the whole report."""

    def __init__(self, report: str, seed_path: Path) -> None:
        super().__init__(report)
        self.seed_path = seed_path


@dataclass(frozen=True)
class ShardRun:
    examples: int
    fingerprint: str
    """sha256 over every test case's steps, in the order they ran."""

    def describe(self) -> str:
        return f"{self.examples} cases, steps sha256 {self.fingerprint[:16]}"


def round_seed(base_seed: int, shard: Shard, round: int) -> int:
    """Round 0 is the shard's own seed; later rounds (under a time budget) never repeat one."""
    return shard.seed if round == 0 else sub_seed(base_seed, shard.backend, shard.index + round * shard.count)


def run_shard(
    shard: Shard,
    *,
    dim: int,
    base_seed: int,
    settings: Settings,
    workdir: Path,
    seeds_out: Path,
    record_property: Callable[[str, str], None],
    deadline: float | None = None,
    config: MachineConfig = MachineConfig(),
) -> ShardRun:
    """Run ``shard`` (again with fresh seeds until ``deadline``, a ``time.monotonic`` value).

    On a contract violation the shrunk failure is written under ``seeds_out``, its path is
    recorded as the ``umi_seed`` property and ``ContractFailure`` is raised.
    """
    builder = registry.resolve(shard.backend)
    fingerprint = hashlib.sha256()
    examples = 0
    round = 0
    while round == 0 or (deadline is not None and time.monotonic() < deadline):
        hypothesis_seed_value = round_seed(base_seed, shard, round)
        machine = _fingerprinted(
            contract_machine(builder, dim=dim, workdir=workdir / f"round-{round}", config=config), fingerprint
        )
        try:
            with seed_only_generation():
                run_state_machine_as_test(
                    hypothesis_seed(hypothesis_seed_value)(machine),
                    settings=Settings(settings, max_examples=shard.examples),
                )
        except Exception as error:
            failure = machine.record.failure
            if failure is None:
                raise
            record_property(
                CASES_PROPERTY, ShardRun(examples + machine.record.examples, fingerprint.hexdigest()).describe()
            )
            versions = seeds.software_versions(machine.record.versions)
            saved = save_failure(
                failure, backend=shard.backend, dim=dim, versions=versions, seeds_dir=seeds_out, workdir=workdir
            )
            record_property(SEED_PROPERTY, str(saved.path))
            header = f"shard {shard.index + 1}/{shard.count}, Hypothesis seed {hypothesis_seed_value}"
            raise ContractFailure(failure_report(saved, header, error, workdir), saved.path) from None
        examples += machine.record.examples
        round += 1
    run = ShardRun(examples, fingerprint.hexdigest())
    record_property(CASES_PROPERTY, run.describe())
    return run


def failure_report(saved: SavedSeed, header: str, error: BaseException, workdir: Path) -> str:
    """Seed path, replay command and replayed steps first; Hypothesis's report after them."""
    lines = [
        f"contract violation on {saved.seed.backend} ({header}): {saved.seed.failure['message']}",
        f"seed written: {saved.path}",
        f"replay it:    {replay_command(saved)}",
        "",
        "the steps, as umi-dst replay prints them:",
    ]
    steps: list[str] = []
    verdict = replay(saved.seed, workdir=workdir, log=steps.append)
    lines += [f"  {line}" for line in steps] + [f"  {verdict.summary()}"]
    if not verdict.reproduced:
        lines.append("  (the seed did not fail again on its own: the failure may depend on a nemesis's timing)")
    lines += ["", "Hypothesis's report:", f"{type(error).__name__}: {error}", *getattr(error, "__notes__", [])]
    return "\n".join(line.rstrip("\n") for line in lines)


def replay_command(saved: SavedSeed) -> str:
    """A backend that is not registered is named on the command line: replay imports only what
    the user names, never what a file says."""
    backend = saved.seed.backend
    return f"umi-dst replay {saved.path}" + ("" if registry.is_registered(backend) else f" --backend {backend}")


def _fingerprinted(machine: type[RuleBasedStateMachine], fingerprint) -> type[RuleBasedStateMachine]:
    """The same machine, adding each finished test case's steps to ``fingerprint``."""

    class Fingerprinted(machine):
        def teardown(self) -> None:
            fingerprint.update(strict_json.canonical([encode_step(step) for step in self.steps]).encode())
            super().teardown()

    Fingerprinted.__name__ = Fingerprinted.__qualname__ = machine.__name__
    return Fingerprinted
