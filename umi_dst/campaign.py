"""One shard of a campaign: the contract machine on one backend, every distinct failure shrunk.

A shard runs its share of test cases under its own Hypothesis seed and keeps going after a
failure: the first failure of each new signature is shrunk by Hypothesis and turned into a
verified seed (not yet written: the driver, which may be on another machine, writes it); later
failures with a known signature are only counted. After a shrink the shard resumes with the
cases it has left under the next round's seed. Everything a shard returns is plain data, so it
can come back from a worker process or a cluster.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import run_state_machine_as_test

from umi_dst import leftovers, registry, seeds, signatures
from umi_dst.coverage import Coverage
from umi_dst.determinism import seed_only_generation
from umi_dst.failure_seeds import verified_seed
from umi_dst.machine import MachineConfig, contract_machine
from umi_dst.replay import replay
from umi_dst.shards import Shard, sub_seed


DEFAULT_EXAMPLES, DEFAULT_STEPS = 50, 30
DEFAULT_CONFIG = MachineConfig(max_bulk=2000, long_cases=True)
"""The default campaign (``umi-dst run``): dimensions drawn per case, one case in four long."""


@dataclass
class Finding:
    """The first failure of a new signature in a shard, shrunk and replayed once."""

    signature: str
    message: str
    reproduced: bool
    seed: seeds.SeedFile | None = None
    """Handed back to the driver, which writes it; ``None`` once written."""
    seed_path: str | None = None


@dataclass
class ShardResult:
    shard: Shard
    cases: int = 0
    seconds: float = 0.0
    hits: Counter = field(default_factory=Counter)
    """Signature -> generated test cases that failed with it (the found ones included)."""
    findings: list[Finding] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    versions: dict[str, str] = field(default_factory=dict)
    error: str = ""
    """A failure no seed could be made of (the backend cannot start, ...); the shard stopped there."""

    def to_json(self) -> dict:
        return {
            "shard": dataclasses.asdict(self.shard),
            "cases": self.cases,
            "seconds": round(self.seconds, 3),
            "hits": dict(sorted(self.hits.items())),
            "findings": [{k: v for k, v in dataclasses.asdict(f).items() if k != "seed"} for f in self.findings],
            "coverage": self.coverage.to_json(),
            "versions": self.versions,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict) -> ShardResult:
        return cls(
            shard=Shard(**data["shard"]),
            cases=data["cases"],
            seconds=data["seconds"],
            hits=Counter(data["hits"]),
            findings=[Finding(**f) for f in data["findings"]],
            coverage=Coverage.from_json(data["coverage"]),
            versions=data["versions"],
            error=data["error"],
        )


def campaign_settings(examples: int, steps: int) -> Settings:
    """Random search under the given seed; the example database stays out of the way."""
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


def run_shard(
    shard: Shard,
    *,
    steps: int,
    dim: int | None,
    config: MachineConfig = MachineConfig(),
    known: Iterable[str] = (),
    deadline: float | None = None,
    max_findings: int | None = None,
    workdir: Path | None = None,
    on_example: Callable[[], None] | None = None,
) -> ShardResult:
    """Run ``shard`` in this process; ``known`` signatures are counted, never shrunk again.

    Hypothesis draws from the seed alone (``determinism``), so the shard runs the same cases in
    any process, whatever it imported before.

    ``deadline`` (``time.monotonic()``) ends a time-budgeted shard early; ``max_findings``
    stops after that many new signatures.
    """
    builder = registry.resolve(shard.backend)
    config = dataclasses.replace(config, keep_going=True)
    known = set(known)
    result = ShardResult(shard)
    started = time.perf_counter()
    remaining, round = shard.examples, 0
    while remaining > 0 and (max_findings is None or len(result.findings) < max_findings):
        with leftovers.scratch_directory("campaign", workdir) as scratch:
            machine = contract_machine(builder, dim=dim, workdir=Path(scratch), config=config)
            record = machine.record
            record.known, record.on_example, record.deadline = frozenset(known), on_example, deadline
            seed = shard.seed if round == 0 else sub_seed(shard.seed, f"{shard.backend}/round", round)
            try:
                with seed_only_generation():
                    run_state_machine_as_test(hypothesis_seed(seed)(machine), settings=campaign_settings(remaining, steps))
                error = None
            except registry.BackendUnavailable:  # the environment, not the backend, failed: no finding
                raise
            except Exception as exc:  # any failure of the backend under test is a finding
                error = exc
        result.cases += record.generated
        result.hits.update(record.hits)
        result.coverage.merge(record.coverage)
        result.versions = seeds.software_versions(record.versions)
        remaining -= record.generated
        round += 1
        if error is None:
            break
        if record.target is None or record.failure is None:
            result.error = f"{type(error).__name__}: {error}"
            break
        failure = record.failure
        seed_file, reproduced = verified_seed(
            failure, backend=shard.backend, dim=failure.dim, versions=result.versions, workdir=workdir
        )
        result.findings.append(Finding(record.target, seed_file.failure["message"], reproduced, seed_file))
        known.add(record.target)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class SeedReplay:
    """An existing seed of a backend, replayed before its campaign: still failing or fixed."""

    path: str
    backend: str
    signature: str
    reproduced: bool
    message: str


def existing_seeds(spec: str, seeds_dir: Path) -> list[Path]:
    """The sequential seed files under ``seeds_dir`` recorded on ``spec``, in a stable order."""
    found = []
    for path in sorted(Path(seeds_dir).rglob("*.json")):
        if seeds.is_seed_file(path):
            try:
                if seeds.load(path).backend == spec:
                    found.append(path)
            except seeds.MalformedSeed:
                continue
    return found


def replay_existing(path: Path, workdir: Path | None = None) -> SeedReplay:
    seed = seeds.load(path)
    outcome = replay(seed, workdir=workdir)
    return SeedReplay(str(path), seed.backend, signatures.of_seed(seed.steps, seed.failure), outcome.reproduced, outcome.message)


@dataclass
class CampaignResult:
    """One backend searched in this process until its first failure (self-tests, quick checks)."""

    backend: str
    examples_run: int
    seconds: float
    passed: bool
    seed_path: Path | None = None
    failure: str = ""
    reproduced: bool | None = None


def run_campaign(
    spec: str,
    *,
    dim: int | None,
    examples: int,
    steps: int,
    seed: int | None,
    seeds_dir: Path,
    workdir: Path | None = None,
    config: MachineConfig = MachineConfig(),
    on_example: Callable[[], None] | None = None,
) -> CampaignResult:
    """Search ``spec`` for a contract violation; write and verify a seed for the first one found."""
    shard = Shard(spec, 0, 1, random.getrandbits(64) if seed is None else seed, examples)
    ran = run_shard(shard, steps=steps, dim=dim, config=config, max_findings=1, workdir=workdir, on_example=on_example)
    result = CampaignResult(spec, ran.cases, ran.seconds, not ran.findings and not ran.error, failure=ran.error)
    if ran.findings:
        finding = ran.findings[0]
        result.seed_path = seeds.write(finding.seed, seeds_dir)
        result.failure, result.reproduced = finding.message, finding.reproduced
    return result
