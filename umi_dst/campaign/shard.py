"""One shard of a campaign: the contract machine on one backend, every failure counted.

A campaign searches first and shrinks afterwards. A shard's search (``run_shard``) runs its
test cases under its own Hypothesis seed and never stops: every failure ends its test case and
is counted under its signature. The driver then has each new signature shrunk once, by the
first shard in plan order that hit it (``shrink``): that shard reruns its seed, which draws the
same cases, and this time the failure with that signature is raised for Hypothesis to shrink
and turned into a verified seed (not yet written: the driver, which may be on another machine,
writes it). So a bug that every shard meets is shrunk once, and what a shard searched never
depends on what it or another shard found. Everything returned is plain data, so it can come
back from a worker process or a cluster.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.stateful import run_state_machine_as_test

from umi_dst import registry
from umi_dst.campaign import leftovers, signatures
from umi_dst.campaign.coverage import Coverage
from umi_dst.campaign.shards import Shard
from umi_dst.generation.determinism import seed_only_generation
from umi_dst.generation.machine import MachineConfig, MachineRecord, contract_machine
from umi_dst.html import seed_page
from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.failure_seeds import verified_seed
from umi_dst.seedfiles.replay import replay

DEFAULT_EXAMPLES, DEFAULT_STEPS = 50, 30
DEFAULT_CONFIG = MachineConfig(
    max_bulk=2000, long_cases=True, rule_per_fault=True, aimed_searches=True, maintenance_steps=True
)
"""The default campaign (``umi-dst run``): dimensions drawn per case, one case in six long,
each fault a rule of its own."""


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
    ended: float = 0.0
    """Seconds from the campaign's start to the driver receiving this result (how the work spread)."""

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
            "ended": round(self.ended, 1),
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
            ended=data.get("ended", 0.0),
        )


def campaign_settings(examples: int, steps: int, phases: Sequence[Phase] = (Phase.generate, Phase.shrink)) -> Settings:
    """Random search under the given seed; the example database stays out of the way."""
    return Settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        phases=list(phases),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


def run_shard(
    shard: Shard,
    *,
    steps: int,
    dim: int | None,
    config: MachineConfig = MachineConfig(),
    deadline: float | None = None,
    workdir: Path | None = None,
    on_example: Callable[[], None] | None = None,
) -> ShardResult:
    """Search ``shard`` in this process, counting every failure by signature; shrink none.

    Hypothesis draws from the seed alone (``determinism``), so the shard runs the same cases in
    any process, whatever it imported before. ``deadline`` (``time.monotonic()``) ends a
    time-budgeted shard early.
    """
    result = ShardResult(shard)
    started = time.perf_counter()
    record, error = _search(shard, steps=steps, dim=dim, config=config, known=None, deadline=deadline,
                            workdir=workdir, on_example=on_example)  # fmt: skip
    result.cases, result.hits, result.coverage = record.generated, record.hits, record.coverage
    result.versions = seeds.software_versions(record.versions)
    if error is not None:  # no failure of the contract is raised while searching: the shard could not run
        result.error = f"{type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - started
    return result


def shrink(
    shard: Shard,
    signature: str,
    *,
    steps: int,
    dim: int | None,
    config: MachineConfig = MachineConfig(),
    counted: Iterable[str] = (),
    workdir: Path | None = None,
) -> Finding:
    """Rerun ``shard``, whose search hit ``signature``, and shrink that failure into a seed.

    ``counted`` are the other signatures the search met (and those already known): they end
    their test case and are counted again, as in the search, so the rerun draws the same cases
    up to the first failure with ``signature``.
    """
    record, error = _search(shard, steps=steps, dim=dim, config=config, known=set(counted) - {signature},
                            deadline=None, workdir=workdir, on_example=None)  # fmt: skip
    if record.failure is None or record.target is None:
        what = f"{type(error).__name__}: {error}" if error is not None else "no test case failed"
        return Finding(signature, f"its shard's rerun did not fail again ({what})", reproduced=False)
    versions = seeds.software_versions(record.versions)
    seed_file, reproduced = verified_seed(record.failure, backend=shard.backend, dim=record.failure.dim,
                                          versions=versions, workdir=workdir)  # fmt: skip
    return Finding(record.target, seed_file.failure["message"], reproduced, seed_file)


def _search(
    shard: Shard,
    *,
    steps: int,
    dim: int | None,
    config: MachineConfig,
    known: Iterable[str] | None,
    deadline: float | None,
    workdir: Path | None,
    on_example: Callable[[], None] | None,
) -> tuple[MachineRecord, Exception | None]:
    """One Hypothesis run of the shard's cases; with ``known=None`` no failure is raised (a
    search), else the first one of a signature not in ``known`` is raised and shrunk."""
    builder = registry.resolve(shard.backend)
    config = dataclasses.replace(config, keep_going=True)
    phases = [Phase.generate] if known is None else [Phase.generate, Phase.shrink]
    with leftovers.scratch_directory("campaign", workdir) as scratch:
        machine = contract_machine(builder, dim=dim, workdir=Path(scratch), config=config)
        record: MachineRecord = machine.record
        record.known = frozenset(known or ())
        record.shrink_new = known is not None
        record.on_example, record.deadline = on_example, deadline
        try:
            with seed_only_generation():
                run_state_machine_as_test(
                    hypothesis_seed(shard.seed)(machine), settings=campaign_settings(shard.examples, steps, phases)
                )
        except registry.BackendUnavailable:  # the environment, not the backend, failed: no finding
            raise
        except Exception as exc:  # a failure being shrunk, or a shard that could not run
            return record, exc
    return record, None


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
    return SeedReplay(
        str(path), seed.backend, signatures.of_seed(seed.steps, seed.failure), outcome.reproduced, outcome.message
    )


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
    started = time.perf_counter()
    record, error = _search(shard, steps=steps, dim=dim, config=config, known=(), deadline=None,
                            workdir=workdir, on_example=on_example)  # fmt: skip
    result = CampaignResult(spec, record.generated, 0.0, error is None)
    if error is not None and record.failure is not None and record.target is not None:
        versions = seeds.software_versions(record.versions)
        seed_file, result.reproduced = verified_seed(record.failure, backend=spec, dim=record.failure.dim,
                                                     versions=versions, workdir=workdir)  # fmt: skip
        result.seed_path = seeds.write(seed_file, seeds_dir)
        seed_page.write_beside(result.seed_path)
        result.failure = seed_file.failure["message"]
    elif error is not None:
        result.failure = f"{type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - started
    return result
