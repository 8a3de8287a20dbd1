"""The campaign driver: plans shards, spreads them over a runner, writes seeds and the report.

Before searching, each backend's existing seeds are replayed (still failing or fixed) and their
signatures become known, so the campaign counts them instead of shrinking them again. Shards
come from ``shards.plan`` (a budget of test cases) or from an endless round-robin of fixed-size
shards (a time budget). Shards only search and count; each new signature is shrunk once
afterwards, by the first shard in plan order that hit it, never by whichever worker finished
first, so the verdicts and the seed files are the same with one worker, many, or a cluster.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from umi_dst.campaign import shards
from umi_dst.campaign.report import CampaignReport
from umi_dst.campaign.shard import ShardResult, existing_seeds, replay_existing, run_shard, shrink
from umi_dst.campaign.signatures import of_seed
from umi_dst.campaign.workers import InProcessRunner, Runner
from umi_dst.generation.machine import MachineConfig
from umi_dst.html import seed_page
from umi_dst.seedfiles import seeds

SHARD_CASES = 10
"""Test cases per shard: small enough to spread over many workers, large enough that
Hypothesis gets past its first simple examples."""


@dataclass(frozen=True)
class CampaignPlan:
    backends: tuple[str, ...]
    steps: int
    seed: int
    dim: int | None
    config: MachineConfig
    seeds_dir: Path
    examples: int | None = None
    """Test cases per backend, or ``None`` with a ``duration``."""
    duration: float | None = None
    """Seconds of searching (a nightly campaign), instead of ``examples``."""
    slice: tuple[int, int] | None = None
    """``(K, N)``: run only the K-th of N deterministic slices of the shards."""

    def settings(self) -> dict:
        return {
            "backends": list(self.backends),
            "examples": self.examples,
            "duration": self.duration,
            "steps": self.steps,
            "seed": self.seed,
            "dim": self.dim if self.dim is not None else "drawn per case",
            "max_bulk": self.config.max_bulk,
            "shard": f"{self.slice[0]}/{self.slice[1]}" if self.slice else None,
        }

    def shards(self) -> Iterator[shards.Shard]:
        """This campaign's shards (this slice's only), in plan order; endless with a duration."""
        if self.examples is not None:
            per_backend = math.ceil(self.examples / SHARD_CASES)
            planned: Iterator[shards.Shard] = iter(
                shards.plan(self.backends, examples=self.examples, shards_per_backend=per_backend, seed=self.seed)
            )
        else:
            planned = (
                shards.Shard(backend, index, 0, shards.sub_seed(self.seed, backend, index), SHARD_CASES)
                for index in itertools.count()
                for backend in self.backends
            )
        if self.slice is None:
            return planned
        k, n = self.slice
        return itertools.islice(planned, k - 1, None, n)


def run(plan: CampaignPlan, runner: Runner, progress: Callable[[int, int], None] | None = None) -> CampaignReport:
    """Run the campaign; ``progress(cases_done, shards_done)`` is called as work completes.

    Shards search; each new signature is then shrunk once, by the backend's first shard in
    plan order that hit it, as soon as the backend's shards before that one have finished (so
    the choice never depends on which worker was faster). Shrinks go before further searches,
    and the searches of a budget go slowest backend first (``ShardQueue``), so the last
    minutes do not leave workers idle behind one long job.
    """
    started = time.monotonic()
    deadline = None if plan.duration is None else started + plan.duration
    report = CampaignReport(plan.settings())
    existing = {spec: existing_seeds(spec, plan.seeds_dir) for spec in plan.backends}
    known = {spec: _known_signatures(paths) for spec, paths in existing.items()}
    replaying = [runner.submit(replay_existing, path) for paths in existing.values() for path in paths]
    on_example = runner.on_example()
    queue = ShardQueue(plan.shards(), reorder=plan.examples is not None)
    owners = _FirstHits(known)
    pending: dict = {}
    """Future -> its shard, and the signature it shrinks (``None``: a search)."""
    cases = done = 0
    common = {"steps": plan.steps, "dim": plan.dim, "config": plan.config}

    def report_progress() -> None:
        nonlocal cases
        cases += runner.cases_reported()
        if progress:
            progress(cases, done)

    if isinstance(runner, InProcessRunner):
        runner.listener = report_progress

    def submit_next() -> bool:
        if owners.to_shrink:
            result, signature = owners.to_shrink.pop(0)
            counted = known[result.shard.backend] | set(result.hits)
            pending[runner.submit(shrink, result.shard, signature, counted=counted, **common)] = (
                result.shard,
                signature,
            )
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        shard = queue.next()
        if shard is None:
            return False
        owners.submitted(shard)
        pending[runner.submit(run_shard, shard, deadline=deadline, on_example=on_example, **common)] = (shard, None)
        return True

    def fill() -> None:
        while len(pending) < runner.slots + 1 and submit_next():
            pass

    fill()
    while pending:
        runner.wait(list(pending))
        for future in [f for f in pending if f.done()]:
            shard, signature = pending.pop(future)
            if signature is None:
                result: ShardResult = future.result()
                result.ended = time.monotonic() - started
                report.shards.append(result)
                owners.finished(result)
                queue.finished(result)
                done += 1
                if on_example is None:
                    cases += result.cases
            else:
                finding = future.result()
                owners.searched[shard].findings.append(finding)
        fill()
        report_progress()
    report.replays = [future.result() for future in replaying]
    report.wall_seconds = time.monotonic() - started
    write_seeds(report, plan.seeds_dir)
    return report


class ShardQueue:
    """The shards still to search. A budget's shards go slowest backend first: first a backend
    not started yet (in plan order, so each is measured early), then one whose first shard has
    not finished yet (it is slower than those that have), then by the seconds its finished
    shards took per case. The cheap shards are left for the end, where they fill the workers
    instead of one long shard running alone. (The order changes only when a job runs, never
    what it finds.) A time budget's endless shards go in plan order, round-robin."""

    def __init__(self, planned: Iterator[shards.Shard], *, reorder: bool) -> None:
        self._planned = planned
        self._waiting: dict[str, list[shards.Shard]] | None = None
        if reorder:
            self._waiting = {}
            for shard in planned:
                self._waiting.setdefault(shard.backend, []).append(shard)
        self._started: set[str] = set()
        self._cost: dict[str, list[float]] = {}
        """Backend -> [seconds, cases] of its finished shards."""

    def next(self) -> shards.Shard | None:
        if self._waiting is None:
            return next(self._planned, None)
        backends = [backend for backend, left in self._waiting.items() if left]
        if not backends:
            return None
        slowest = min(backends, key=self._urgency)
        self._started.add(slowest)
        return self._waiting[slowest].pop(0)

    def _urgency(self, backend: str) -> tuple[int, float]:
        if backend not in self._started:
            return (0, 0.0)
        if backend not in self._cost:
            return (1, 0.0)
        seconds, cases = self._cost[backend]
        return (2, -seconds / max(cases, 1))

    def finished(self, result: ShardResult) -> None:
        cost = self._cost.setdefault(result.shard.backend, [0.0, 0])
        cost[0] += result.seconds
        cost[1] += result.cases


class _FirstHits:
    """Which shard shrinks each new signature: the backend's first in plan order whose search hit it."""

    def __init__(self, known: dict[str, frozenset[str]]) -> None:
        self.known = known
        self.searched: dict[shards.Shard, ShardResult] = {}
        self.to_shrink: list[tuple[ShardResult, str]] = []
        """Decided and not yet submitted, in the order decided."""
        self._submitted: dict[str, list[shards.Shard]] = {}
        """Each backend's shards in the order submitted, which is plan order."""
        self._decided: dict[str, int] = {}
        self._owned: set[tuple[str, str]] = set()

    def submitted(self, shard: shards.Shard) -> None:
        self._submitted.setdefault(shard.backend, []).append(shard)

    def finished(self, result: ShardResult) -> None:
        """Record a search; the backend's shards up to its next unfinished one are now decided."""
        backend = result.shard.backend
        self.searched[result.shard] = result
        order, decided = self._submitted[backend], self._decided.get(backend, 0)
        while decided < len(order) and order[decided] in self.searched:
            first = self.searched[order[decided]]
            for signature in sorted(first.hits):
                if signature not in self.known[backend] and (backend, signature) not in self._owned:
                    self._owned.add((backend, signature))
                    self.to_shrink.append((first, signature))
            decided += 1
        self._decided[backend] = decided


def write_seeds(report: CampaignReport, seeds_dir: Path) -> list[Path]:
    """Write the first finding of each new signature, in plan order; later ones stay unwritten."""
    written, seen = [], {(r.backend, r.signature) for r in report.replays}
    for result in report.ordered_shards():
        for finding in result.findings:
            key = (result.shard.backend, finding.signature)
            if key not in seen and finding.seed is not None:
                finding.seed_path = str(seeds.write(finding.seed, seeds_dir))
                written.append(Path(finding.seed_path))
                seed_page.write_beside(Path(finding.seed_path))
            seen.add(key)
            finding.seed = None
    return written


def _known_signatures(paths: Sequence[Path]) -> frozenset[str]:
    found = set()
    for path in paths:
        seed = seeds.load(path)
        found.add(of_seed(seed.steps, seed.failure))
    return frozenset(found)
