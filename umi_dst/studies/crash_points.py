"""Crash points, measured: the crash states of each write kind, replay stability, and a soak.

``python -m umi_dst.studies.crash_points`` writes ``reports/crash-points.md`` and ``.json``:

- per backend and write kind, how many crash states (file-based stores) or fault points
  (PostgreSQL) were built and checked, and the verdict;
- the soak: acknowledged writes lost over N crash cycles per backend (each cycle stores one
  acknowledged record, then crashes a batch at a seeded crash point; every acknowledged record
  is then read on a fresh connection);
- crashes in concurrent histories (PostgreSQL): generated programs whose one client write is
  struck by ``crash_server`` at a drawn point while other clients run, on the correct store
  (calls cut off, verdict) and on a planted bug that loses an acknowledged write (caught,
  shrunk, and its seed replayed N times live plus its recorded run judged again);
- replay stability: each committed seed with a crash point replayed N times, and each crash-point
  seed a fresh campaign finds on the planted crash bugs, with their verdicts.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings

from umi_dst import registry
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.crash_states import CRASH
from umi_dst.checking.harness import Harness
from umi_dst.cli import main as cli
from umi_dst.concurrency.parallel import judge_recorded, replay_parallel, run_parallel
from umi_dst.operations import Bulk, CrashPoint, Delete, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.seedfiles import parallel_seeds, seeds
from umi_dst.seedfiles.replay import replay
from umi_dst.studies import report_files

DIM = 8
WRITE_KINDS = {
    "store (new id)": Store("new", Random(11)),
    "store (existing id)": Store("kept", Random(12)),
    "store_batch (3 items)": StoreBatch((("kept", Random(13)), ("b1", Random(14)), ("b2", Random(15)))),
    "store_batch (150 items)": StoreBatch((), Bulk(seed=16, count=150, distinct=150)),
    "delete": Delete("kept"),
}
SETUP = Step(StoreBatch((("kept", Random(1)),), Bulk(seed=2, count=100, distinct=100)))


@dataclass
class Row:
    backend: str
    write: str
    fault: str
    checked: int
    verdict: str


@dataclass
class Soak:
    backend: str
    fault: str
    cycles: int
    acknowledged: int
    lost: int
    violations: int
    seconds: float


def crash_state_rows(spec: str) -> list[Row]:
    """Every write kind under ``crash`` on a file-based store: states checked and the verdict."""
    rows = []
    for kind, op in WRITE_KINDS.items():
        with tempfile.TemporaryDirectory(prefix="umi-crash-") as scratch:
            factory = registry.build(spec, Path(scratch), DIM)
            harness = Harness(factory)
            try:
                harness.run(SETUP)
                checked_before = harness.crash_states_checked
                harness.run(Step(op, CRASH, CrashPoint("after_ops", 0)))
                verdict = "pass"
            except ContractViolation as violation:
                verdict = f"violation: {violation}"
            finally:
                harness.close()
                factory.destroy()
        rows.append(Row(spec, kind, CRASH, harness.crash_states_checked - checked_before, verdict))
    return rows


def fault_point_rows(spec: str, faults: tuple[str, ...] | None = None) -> list[Row]:
    """Every write kind at every point of every placed fault (PostgreSQL; only ``faults`` if
    given), each on a fresh store."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="umi-crash-") as scratch:
        probe = registry.build(spec, Path(scratch), DIM)
        plan = {
            fault: Harness(probe).crash_points(fault)
            for fault in sorted(probe.nemeses)
            if faults is None or fault in faults
        }
        probe.destroy()
        for fault, points in plan.items():
            for kind, op in WRITE_KINDS.items():
                verdict = "pass"
                for point in points:
                    factory = registry.build(spec, Path(scratch), DIM)
                    harness = Harness(factory)
                    try:
                        harness.run(SETUP)
                        harness.run(Step(op, fault, CrashPoint(point, 7)))
                    except ContractViolation as violation:
                        verdict = f"violation: {violation}"
                    finally:
                        harness.close()
                        factory.destroy()
                rows.append(Row(spec, kind, f"{fault} at {', '.join(points)}", len(points), verdict))
    return rows


def soak(spec: str, fault: str, cycles: int, seed: int = 0) -> Soak:
    """``cycles`` rounds of an acknowledged store, then a batch crashed at a seeded point."""
    rng = random.Random(seed)
    started = time.perf_counter()
    lost = violations = acknowledged_total = 0
    acknowledged: list[str] = []
    with tempfile.TemporaryDirectory(prefix="umi-soak-") as scratch:
        factory = registry.build(spec, Path(scratch), DIM)
        harness = Harness(factory)
        try:
            for cycle in range(cycles):
                id = f"ack-{cycle}"
                points = harness.crash_points(fault)
                at = CrashPoint(rng.choice(points), rng.randrange(64))
                batch = StoreBatch((), Bulk(seed=cycle, count=rng.choice((3, 150)), distinct=150))
                try:
                    harness.run(Step(Store(id, Random(cycle))))
                    acknowledged.append(id)
                    acknowledged_total += 1
                    harness.run(Step(batch, fault, at))
                except ContractViolation:
                    violations += 1
                fresh = factory.open()
                lost += sum(fresh.get(id) is None for id in acknowledged)
                acknowledged = [id for id in acknowledged if fresh.get(id) is not None]
                fresh.close()
        finally:
            harness.close()
            factory.destroy()
    return Soak(spec, fault, cycles, acknowledged_total, lost, violations, time.perf_counter() - started)


@dataclass
class Concurrent:
    backend: str
    programs: int
    crashes: int
    """Programs whose run crashed the server in the middle of the concurrent part."""
    cut_off: int
    """Calls of other clients those crashes cut off."""
    verdict: str
    seconds: float


POSTGRES_BUGS = tuple(
    f"umi_dst.selftest.postgres_crash_mutants:{name}"
    for name in ("unlogged_table", "commits_on_next_call", "commits_each_row")
)
PLANTED_LOSS = "umi_dst.selftest.postgres_crash_mutants:unlogged_table"
CAMPAIGN_BUGS = (
    "umi_dst.backends.lance.upstream:batch_loop",
    "umi_dst.selftest.postgres_crash_mutants:commits_each_row",
    "umi_dst.selftest.postgres_crash_mutants:unlogged_table",
)
"""Planted crash bugs a fresh campaign hunts, for the stability of the crash-point seeds it writes.
(Not the JSON-file store: it rereads its whole file on every call, so a campaign's long write
runs and final checks take many minutes there.)"""


def concurrent_crashes(spec: str, examples: int, seeds_dir: Path | None = None) -> tuple[Concurrent, Path | None]:
    """``examples`` generated programs that may crash the server under one client write."""
    budget = settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    with tempfile.TemporaryDirectory(prefix="umi-crash-") as scratch:
        result = run_parallel(spec, dim=DIM, workdir=Path(scratch), settings=budget, crashes=True, seeds_dir=seeds_dir)
    verdict = "pass" if result.passed else f"caught: {result.failure}"
    return Concurrent(spec, result.runs, result.crashes, result.cut_off, verdict, result.seconds), result.seed_path


def parallel_stability(path: Path, runs: int) -> dict:
    """A parallel crash seed replayed ``runs`` times live, and its recorded run judged again."""
    seed = parallel_seeds.load(path)
    live = replay_parallel(seed, runs=runs)
    recorded = [judge_recorded(seed) is not None for _ in range(runs)]
    steps = sum(map(len, seed.clients))
    return {"seed": f"{path.name} ({len(seed.prefix)} prefix steps, {steps} client steps)", "backend": seed.backend,
            "expect": "fail", "runs": runs, "failed": len(live.failures), "recorded_failed": sum(recorded)}  # fmt: skip


def fresh_campaign_stability(specs: tuple[str, ...], examples: int, runs: int) -> list[dict]:
    """A campaign (seed 0) against each planted crash bug; each crash-point seed it writes,
    replayed ``runs`` times on its own backend."""
    found = []
    with tempfile.TemporaryDirectory(prefix="umi-campaign-") as scratch:
        seeds_dir = Path(scratch) / "seeds"
        for spec in specs:
            cli(["run", "--backend", spec, "--examples", str(examples), "--seed", "0", "--workers", "1", "--dim", str(DIM),
                 "--seeds-dir", str(seeds_dir), "--report-dir", str(Path(scratch) / "reports")])  # fmt: skip
        for path in sorted(seeds_dir.rglob("*.json")):
            if not seeds.is_seed_file(path):
                continue
            seed = seeds.load(path)
            if any(step.at is not None for step in seed.steps):
                failed = sum(replay(seed, seed.backend).reproduced for _ in range(runs))
                found.append({"seed": f"{path.parent.name}/{path.name} ({len(seed.steps)} steps)", "backend": seed.backend,
                              "expect": "fail", "runs": runs, "failed": failed})  # fmt: skip
    return found


def replay_stability(seeds_dir: Path, runs: int) -> list[dict]:
    """Each committed seed with a crash point, replayed ``runs`` times on each backend it names."""
    found = []
    for path in sorted(Path(seeds_dir).rglob("*.json")):
        if not seeds.is_seed_file(path):
            continue
        seed = seeds.load(path)
        if not any(step.at is not None for step in seed.steps):
            continue
        for spec, outcome in seed.expectations().items():
            verdicts = [replay(seed, spec).reproduced for _ in range(runs)]
            found.append({"seed": str(path), "backend": spec, "expect": outcome, "runs": runs, "failed": sum(verdicts)})
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lance-cycles", type=int, default=50)
    parser.add_argument("--postgres-cycles", type=int, default=20, help="0 leaves PostgreSQL out of the report")
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument(
        "--concurrent-programs", type=int, default=30, help="generated concurrent programs per store (0: none)"
    )
    parser.add_argument(
        "--campaign-examples", type=int, default=30, help="test cases of the fresh campaign per planted bug (0: none)"
    )
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    rows = [
        row
        for spec in ("lance", "lance-approx", "umi_dst.selftest.json_files:correct")
        for row in crash_state_rows(spec)
    ]
    rows += [
        row
        for spec in (
            "umi_dst.selftest.json_files:rewrites_in_place",
            "umi_dst.selftest.json_files:acknowledges_before_durable",
            "umi_dst.backends.lance.upstream:batch_loop",
        )
        for row in crash_state_rows(spec)
    ]
    soaks = [soak("lance", CRASH, args.lance_cycles)]
    if args.postgres_cycles:
        rows += fault_point_rows("postgres")
        rows += [row for spec in POSTGRES_BUGS for row in fault_point_rows(spec, ("crash_server",))]
        soaks.append(soak("postgres", "crash_server", args.postgres_cycles))
    concurrent: list[Concurrent] = []
    fresh: list[dict] = []
    if args.postgres_cycles and args.concurrent_programs:
        with tempfile.TemporaryDirectory(prefix="umi-seeds-") as found_dir:
            concurrent.append(concurrent_crashes("postgres", args.concurrent_programs)[0])
            caught, path = concurrent_crashes(PLANTED_LOSS, args.concurrent_programs, Path(found_dir))
            concurrent.append(caught)
            if path is not None:
                fresh.append(parallel_stability(path, args.replays))
    if args.campaign_examples:
        specs = CAMPAIGN_BUGS if args.postgres_cycles else CAMPAIGN_BUGS[:1]
        fresh += fresh_campaign_stability(specs, args.campaign_examples, args.replays)
    stability = replay_stability(Path("seeds"), args.replays)
    data = {
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": [load_before, os.getloadavg()[0]],
        "minutes": (time.perf_counter() - started) / 60,
        "crash_states": [asdict(r) for r in rows],
        "soak": [asdict(s) for s in soaks],
        "concurrent": [asdict(c) for c in concurrent],
        "replays": stability,
        "fresh_replays": fresh,
    }
    print(f"report: {report_files.write(args.report_dir / 'crash-points', data, _markdown(data))}")
    return 0


def _markdown(data: dict) -> str:
    run = f"{data['date']} on {data['host']}, dim {DIM}; made by `python -m umi_dst.studies.crash_points`"
    if "load" in data:
        run += f" in {data['minutes']:.0f} min, load average {data['load'][0]:.1f} at the start and {data['load'][1]:.1f} at the end"
    lines = [
        "# Crash points",
        "",
        run + " (a shared 2-core machine: times are rough).",
        "",
        "## Crash states and fault points per write kind",
        "",
        "File-based stores: distinct crash states of the write built and checked (fresh connection: opens,",
        "all-old or all-new, all-new once every file operation is done). PostgreSQL: points struck, each",
        "with its one expected state (`after_statements`: either, never a mix). Planted crash bugs: the",
        "JSON-file store's two variants besides `correct`, `batch_loop` and the `postgres_crash_mutants`.",
        "",
        "| backend | write | fault | checked | verdict |",
        "|---|---|---|---:|---|",
    ]
    lines += [
        f"| {r['backend']} | {r['write']} | {r['fault']} | {r['checked']} | {_short(r['verdict'])} |"
        for r in data["crash_states"]
    ]
    lines += [
        "",
        "## Soak: acknowledged writes lost over N crash cycles",
        "",
        "| backend | fault | cycles | acknowledged writes | lost | violations | seconds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['backend']} | {s['fault']} | {s['cycles']} | {s['acknowledged']} | {s['lost']} | {s['violations']} | {s['seconds']:.0f} |"
        for s in data["soak"]
    ]
    if data.get("concurrent"):
        lines += ["", "## Crashes in concurrent histories (PostgreSQL)", "",
                  "Generated programs (a prefix, then 2-4 clients as threads); some (column `crashed`) strike one client",
                  "write with a placed fault (`crash_server`, `terminate_connection`, `statement_timeout`) at a drawn",
                  "point while the others run. Calls cut off by a server crash are",
                  "indeterminate, as is the struck write if it raised (unless it raised before its commit: then it",
                  "never took effect); every acknowledged write must be read back after it. The planted bug keeps its",
                  "table `UNLOGGED`: nothing shows it until a crash. Lance, whose crash is a writer's process dying, is",
                  "crashed in concurrent histories by `kill_client` on client processes (`tests/test_crash_concurrent.py`,",
                  "slow), not measured here.", "",
                  "| backend | programs | crashed | calls cut off | verdict | seconds |", "|---|---:|---:|---:|---|---:|"]  # fmt: skip
        lines += [
            f"| {c['backend']} | {c['programs']} | {c['crashes']} | {c['cut_off']} | {_short(c['verdict'])} | {c['seconds']:.0f} |"
            for c in data["concurrent"]
        ]
    lines += [
        "",
        "## Replays of the committed crash-point seeds",
        "",
        "| seed | backend | expect | runs | failed |",
        "|---|---|---|---:|---:|",
    ]
    lines += [
        f"| `{r['seed']}` | {r['backend']} | {r['expect']} | {r['runs']} | {r['failed']} |" for r in data["replays"]
    ]
    if data.get("fresh_replays"):
        lines += ["", "## Replays of the crash-point seeds found by a fresh search", "",
                  "Seeds written by this run: the concurrent search above on the planted loss (replayed live, and its",
                  "recorded run judged again), and a campaign (seed 0) on each planted crash bug.", "",
                  "| seed | backend | runs | failed | recorded run failed |", "|---|---|---:|---:|---:|"]  # fmt: skip
        lines += [
            f"| `{r['seed']}` | {r['backend']} | {r['runs']} | {r['failed']} | {r.get('recorded_failed', '')} |"
            for r in data["fresh_replays"]
        ]
    return "\n".join(lines) + "\n"


def _short(verdict: str) -> str:
    """The verdict's first line, at most 140 characters (a table cell)."""
    line = verdict.splitlines()[0] if verdict else verdict
    return line if len(line) <= 140 else line[:137] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
