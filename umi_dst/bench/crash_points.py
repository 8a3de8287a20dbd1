"""Crash points, measured: the crash states of each write kind, replay stability, and a soak.

``python -m umi_dst.bench.crash_points`` writes ``reports/crash-points.md`` and ``.json``:

- per backend and write kind, how many crash states (file-based stores) or fault points
  (PostgreSQL) were built and checked, and the verdict;
- the soak: acknowledged writes lost over N crash cycles per backend (each cycle stores one
  acknowledged record, then crashes a batch at a seeded crash point; every acknowledged record
  is then read on a fresh connection);
- replay stability: each committed seed with a crash point replayed N times, with its verdicts.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from umi_dst import registry, seeds
from umi_dst.checks import ContractViolation
from umi_dst.crash_states import CRASH
from umi_dst.harness import Harness
from umi_dst.operations import Bulk, CrashPoint, Delete, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.replay import replay

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


def fault_point_rows(spec: str) -> list[Row]:
    """Every write kind at every point of every placed fault (PostgreSQL), each on a fresh store."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="umi-crash-") as scratch:
        probe = registry.build(spec, Path(scratch), DIM)
        plan = {fault: Harness(probe).crash_points(fault) for fault in sorted(probe.nemeses)}
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
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    rows = [row for spec in ("lance", "lance-approx", "umi_dst.selftest.json_files:correct") for row in crash_state_rows(spec)]
    rows += [row for spec in ("umi_dst.selftest.json_files:rewrites_in_place", "umi_dst.selftest.json_files:acknowledges_before_durable",
                              "backends.lance.upstream:batch_loop") for row in crash_state_rows(spec)]
    soaks = [soak("lance", CRASH, args.lance_cycles)]
    if args.postgres_cycles:
        rows += fault_point_rows("postgres")
        soaks.append(soak("postgres", "crash_server", args.postgres_cycles))
    stability = replay_stability(Path("seeds"), args.replays)
    data = {
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "crash_states": [asdict(r) for r in rows],
        "soak": [asdict(s) for s in soaks],
        "replays": stability,
    }
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "crash-points.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (args.report_dir / "crash-points.md").write_text(_markdown(data), encoding="utf-8")
    print(f"report: {args.report_dir / 'crash-points.md'}")
    return 0


def _markdown(data: dict) -> str:
    lines = [
        "# Crash points",
        "",
        f"{data['date']} on {data['host']}, dim {DIM}; made by `python -m umi_dst.bench.crash_points`.",
        "",
        "## Crash states and fault points per write kind",
        "",
        "File-based stores: distinct crash states of the write built and checked (fresh connection: opens,",
        "all-old or all-new, all-new once every file operation is done). PostgreSQL: points struck, each",
        "with its one expected state. The last three stores carry planted crash bugs.",
        "",
        "| backend | write | fault | checked | verdict |",
        "|---|---|---|---:|---|",
    ]
    lines += [f"| {r['backend']} | {r['write']} | {r['fault']} | {r['checked']} | {_short(r['verdict'])} |" for r in data["crash_states"]]
    lines += ["", "## Soak: acknowledged writes lost over N crash cycles", "",
              "| backend | fault | cycles | acknowledged writes | lost | violations | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {s['backend']} | {s['fault']} | {s['cycles']} | {s['acknowledged']} | {s['lost']} | {s['violations']} | {s['seconds']:.0f} |" for s in data["soak"]]
    lines += ["", "## Replays of the committed crash-point seeds", "", "| seed | backend | expect | runs | failed |", "|---|---|---|---:|---:|"]
    lines += [f"| `{r['seed']}` | {r['backend']} | {r['expect']} | {r['runs']} | {r['failed']} |" for r in data["replays"]]
    return "\n".join(lines) + "\n"


def _short(verdict: str) -> str:
    return verdict if len(verdict) <= 140 else verdict[:137] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
