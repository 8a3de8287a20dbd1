"""How surely the machine catches each planted bug: its hit rate and margin per budget.

A test that only asks "caught or not" within one budget cannot tell a bug met in every third
test case from one met once, by luck of the seed; the next variant of the second will slip
through. This bench searches every planted-bug backend of ``umi_dst.selftest`` (and the correct
stores beside them) as a campaign shard does (``campaign.run_shard``: no shrinking, every
failing test case counted by signature), over a few seeds of each budget:

- ``ci``: the ci profile's budget as ``tests/test_mutants.py`` runs it (dim 8, the default
  machine sizes, one shard of 60 cases of 25 steps, Hypothesis seed = the seed);
- ``main``: the main job's per-backend budget (``umi-dst run``: dimension drawn per case,
  ``DEFAULT_CONFIG``, 50 cases of 30 steps cut into the campaign's shards of ten cases, under
  campaign seed = the seed).

It reports per backend and budget the share of test cases that failed (hit rate), their
signatures, and the margin: the failing test cases one budget run expects (mean over the
seeds) and the fewest any seed got. Run ``python -m umi_dst.studies.mutation_margins``; it writes
``reports/mutation-margins.md`` and ``.json``. ``--before OLD.json`` puts an earlier run's
margins beside this one's (a change to the generation, measured side by side).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from umi_dst import strict_json
from umi_dst.bench.host import machine_facts, versions
from umi_dst.bench.report import table
from umi_dst.campaign import shards as sharding
from umi_dst.campaign.dispatch import SHARD_CASES
from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_EXAMPLES, DEFAULT_STEPS, run_shard
from umi_dst.generation.machine import MachineConfig
from umi_dst.generation.profiles import PROFILES
from umi_dst.selftest.concurrency_mutants import CONCURRENCY_MUTANTS
from umi_dst.selftest.maintenance_mutants import MAINTENANCE_MUTANTS
from umi_dst.selftest.mutants import MUTANTS, NEMESES
from umi_dst.selftest.shape_mutants import SHAPE_MUTANTS
from umi_dst.studies import report_files

WEAK_MARGIN = 3.0
"""Fewer expected failing cases per budget than this is weak: with independent cases a budget
run then misses the bug about once in 20 (e^-3), and a small change of strategy more often."""


@dataclass(frozen=True)
class Budget:
    """One way the project searches a backend: the cases, their steps, shapes and shards."""

    name: str
    examples: int
    steps: int
    dim: int | None
    config: MachineConfig
    shard_cases: int | None
    """Cases per shard (the main job's campaign cuts); ``None``: one shard under the seed itself."""

    def shards(self, spec: str, seed: int) -> list[sharding.Shard]:
        if self.shard_cases is None:
            return [sharding.Shard(spec, 0, 1, seed, self.examples)]
        count = math.ceil(self.examples / self.shard_cases)
        return sharding.plan([spec], examples=self.examples, shards_per_backend=count, seed=seed)


_CI = PROFILES["ci"]
BUDGETS = {
    "ci": Budget("ci", _CI.max_examples, _CI.stateful_step_count, 8, MachineConfig(), None),
    "main": Budget("main", DEFAULT_EXAMPLES, DEFAULT_STEPS, None, DEFAULT_CONFIG, SHARD_CASES),
}


@dataclass(frozen=True)
class Planted:
    """A backend searched by the bench: a planted bug, or a correct store (``correct``) whose
    every failing case is a false alarm."""

    spec: str
    family: str
    correct: bool = False
    note: str = ""
    budgets: tuple[str, ...] = tuple(BUDGETS)
    """The budgets it is searched under (the others cannot reach it, or cost too much)."""


SEQUENTIAL_BLIND = (
    "a race between connections: the sequential machine cannot meet it (the parallel mode catches it); ci only"
)
MAINTENANCE_ONLY_MAIN = "real Lance, reached by the maintenance rules, which only the main job's machine has: main only"
JSON_COST = "ci only, with --json-files: it rewrites its whole file per write and reads it whole per get, so a shard takes minutes"


def planted(postgres: bool = False, json_files: bool = False) -> list[Planted]:
    """Every planted-bug backend of ``umi_dst.selftest`` and the correct stores they derive from;
    the PostgreSQL crash mutants (each case a server's restarts) only with ``postgres``, the
    JSON-file stores (a shard of the ci budget takes minutes) only with ``json_files``."""
    found = [Planted("sim", "mutants", correct=True)]
    found += [Planted(f"umi_dst.selftest.mutants:{name}", "mutants") for name in sorted(MUTANTS)]
    found += [Planted(f"umi_dst.selftest.mutants:control_{name}", "mutants", correct=True) for name in sorted(NEMESES)]
    found += [Planted(f"umi_dst.selftest.shape_mutants:{name}", "shape_mutants", note=f"needs {shape}: main only", budgets=("main",))
              for name, shape in sorted(SHAPE_MUTANTS.items())]  # fmt: skip
    found.append(Planted("umi_dst.selftest.three_bugs:factory", "three_bugs"))
    if json_files:
        found += [Planted(f"umi_dst.selftest.json_files:{name}", "json_files", correct=name == "correct", note=JSON_COST, budgets=("ci",))
                  for name in ("correct", "acknowledges_before_durable", "rewrites_in_place")]  # fmt: skip
    found.append(
        Planted("umi_dst.selftest.concurrency_mutants:locked_sim", "concurrency_mutants", correct=True, budgets=("ci",))
    )
    found += [Planted(f"umi_dst.selftest.concurrency_mutants:{name}", "concurrency_mutants", note=SEQUENTIAL_BLIND, budgets=("ci",))
              for name in sorted(CONCURRENCY_MUTANTS)]  # fmt: skip
    found.append(Planted("umi_dst.selftest.maintenance_mutants:control", "maintenance_mutants", correct=True,
                         note=MAINTENANCE_ONLY_MAIN, budgets=("main",)))  # fmt: skip
    found += [Planted(f"umi_dst.selftest.maintenance_mutants:{name}", "maintenance_mutants", note=MAINTENANCE_ONLY_MAIN, budgets=("main",))
              for name in sorted(MAINTENANCE_MUTANTS)]  # fmt: skip
    if postgres:
        found.append(Planted("postgres", "postgres_crash_mutants", correct=True))
        found += [Planted(f"umi_dst.selftest.postgres_crash_mutants:{name}", "postgres_crash_mutants")
                  for name in ("commits_each_row", "commits_on_next_call", "unlogged_table")]  # fmt: skip
    return found


@dataclass(frozen=True)
class Job:
    """One shard of one budget run (a backend, a budget, a seed)."""

    spec: str
    budget: str
    seed: int
    shard: sharding.Shard


def jobs(backends: Sequence[Planted], budgets: Sequence[Budget], seeds: Sequence[int]) -> list[Job]:
    return [
        Job(p.spec, b.name, seed, shard)
        for p in backends
        for b in budgets
        if b.name in p.budgets
        for seed in seeds
        for shard in b.shards(p.spec, seed)
    ]


def run_job(job: Job, budget: Budget) -> dict:
    """Search one shard in this process; its cases, failing cases by signature and seconds."""
    with tempfile.TemporaryDirectory(prefix="umi-margins-") as scratch:
        result = run_shard(job.shard, steps=budget.steps, dim=budget.dim, config=budget.config, workdir=Path(scratch))
    return {"spec": job.spec, "budget": job.budget, "seed": job.seed, "cases": result.cases,
            "hits": dict(result.hits), "seconds": result.seconds, "error": result.error}  # fmt: skip


def _run_job(arguments: tuple[Job, Budget]) -> dict:
    return run_job(*arguments)


def run_jobs(todo: Sequence[Job], budgets: dict[str, Budget], workers: int) -> list[dict]:
    """Every job, on ``workers`` spawned processes (each shard draws from its seed alone, so
    where it runs changes nothing); the results in job order."""
    arguments = [(job, budgets[job.budget]) for job in todo]
    if workers <= 1:
        return [_progress(i, len(todo), run_job(*a)) for i, a in enumerate(arguments)]
    with multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=20) as pool:
        return [_progress(i, len(todo), r) for i, r in enumerate(pool.imap(_run_job, arguments))]


def _progress(index: int, total: int, row: dict) -> dict:
    failing = sum(row["hits"].values())
    print(f"[{index + 1}/{total}] {row['spec']} {row['budget']} seed {row['seed']}: {failing}/{row['cases']} failing, "
          f"{row['seconds']:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
    return row


def margins(backend: Planted, budget: Budget, rows: Iterable[dict]) -> dict:
    """One backend under one budget: hit rate, margin and signatures over every seed's run."""
    rows = [r for r in rows if r["spec"] == backend.spec and r["budget"] == budget.name]
    per_seed: dict[int, list[int]] = {}
    signatures: Counter = Counter()
    for r in rows:
        failing = sum(r["hits"].values())
        cases = per_seed.setdefault(r["seed"], [0, 0])
        cases[0] += failing
        cases[1] += r["cases"]
        signatures.update(r["hits"])
    failing, cases = sum(f for f, _ in per_seed.values()), sum(c for _, c in per_seed.values())
    rate = failing / cases if cases else 0.0
    hits_per_seed = [per_seed[seed][0] for seed in sorted(per_seed)]
    errors = sorted({r["error"] for r in rows if r["error"]})
    return {
        "spec": backend.spec,
        "family": backend.family,
        "correct": backend.correct,
        "note": backend.note,
        "budget": budget.name,
        "cases": cases,
        "failing": failing,
        "hit_rate": round(rate, 4),
        "margin": round(statistics.mean(hits_per_seed), 2) if hits_per_seed else 0.0,
        "fewest": min(hits_per_seed, default=0),
        "hits_per_seed": hits_per_seed,
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "signatures": dict(signatures.most_common()),
        "errors": errors,
        "verdict": verdict(backend, failing, statistics.mean(hits_per_seed) if hits_per_seed else 0.0, errors),
    }


def verdict(backend: Planted, failing: int, margin: float, errors: Sequence[str]) -> str:
    if errors:
        return "error"
    if backend.correct:
        return "false alarm" if failing else "pass"
    if backend.note == SEQUENTIAL_BLIND:
        return "not sequential" if not failing else "caught"
    if not failing:
        return "missed"
    return "weak" if margin < WEAK_MARGIN else "caught"


def markdown(result: dict) -> str:
    s, facts = result["settings"], result["machine"]
    before = {(r["spec"], r["budget"]): r for r in result.get("before", {}).get("rows", [])}
    lines = [
        f"# Mutation margins: how surely each planted bug is caught, {result['finished']}",
        "",
        "`python -m umi_dst.studies.mutation_margins`: every planted-bug backend of `umi_dst/selftest/` and the correct "
        f"stores beside them, searched as a campaign shard searches (no shrinking; every failing test case counted by "
        f"its signature), over seeds {', '.join(map(str, s['seeds']))} of each budget. "
        + " ".join(f"*{b['name']}*: {b['description']}." for b in s["budgets"]),
        "",
        "**How to read it.** *hit rate* is the share of generated test cases that failed; *margin* is the failing "
        "cases one budget run expects (the mean over the seeds), *fewest* the fewest any seed's run got. A bug is "
        f"caught surely when its margin is well above 1: below {WEAK_MARGIN:g} (*weak*) a budget run of independent "
        "cases misses it about once in 20 or more, and a small change of strategy or seed may lose it; *fewest* 0 "
        "means a seed already did. A correct store's every failing case is a false alarm. Rows are sorted weakest "
        "first within each budget.",
        "",
        f"Host {facts['hostname']}: {facts['logical_cpus']} logical CPUs ({facts['cpu_model']}), load average "
        f"{', '.join(f'{x:.1f}' for x in facts['load_average'])} at the end (the machine is shared; seconds are "
        f"inflated, margins are not: they depend on the seeds alone). Commit {result['versions'].get('umi-dst-commit', '?')}, "
        f"{s['workers']} worker process(es), {result['wall_seconds']} s in all.",
    ]
    if before:
        lines += ["", f"*before*: the margins of `{result['before']['path']}` (commit "
                      f"{result['before'].get('commit', '?')}), same seeds and budgets."]  # fmt: skip
    for budget in s["budgets"]:
        rows = sorted((r for r in result["rows"] if r["budget"] == budget["name"]), key=_weakest_first)
        headers = ["backend", "verdict", "hit rate", "margin", "fewest", "per seed", "cases", "s"]
        if before:
            headers[3:3] = ["margin before", "fewest before"]
        cells = []
        for r in rows:
            cell = [_name(r["spec"]), r["verdict"], f"{r['hit_rate']:.3f}", r["margin"], r["fewest"],
                    " / ".join(map(str, r["hits_per_seed"])), r["cases"], r["seconds"]]  # fmt: skip
            if before:
                old = before.get((r["spec"], r["budget"]), {})
                cell[3:3] = [old.get("margin"), old.get("fewest")]
            cells.append(cell)
        lines += ["", f"## Budget `{budget['name']}`", "", table(headers, cells)]
    lines += [
        "",
        "## Signatures",
        "",
        "Each backend's failing cases by signature (both budgets), most frequent first.",
        "",
    ]
    for spec in dict.fromkeys(r["spec"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["spec"] == spec]
        total: Counter = Counter()
        for r in rows:
            total.update(r["signatures"])
        note = next((r["note"] for r in rows if r["note"]), "")
        lines.append(
            f"- `{_name(spec)}`" + (f" ({note})" if note else "") + (":" if total or rows[0]["errors"] else ": none")
        )
        lines += [f"  - {count} x `{signature}`" for signature, count in total.most_common()]
        lines += [f"  - error: `{error}`" for error in sorted({e for r in rows for e in r["errors"]})]
    return "\n".join(lines) + "\n"


def _weakest_first(row: dict) -> tuple:
    order = {"error": 0, "false alarm": 1, "missed": 2, "weak": 3, "caught": 4, "not sequential": 5, "pass": 6}
    return order[row["verdict"]], row["margin"], row["spec"]


def _name(spec: str) -> str:
    return spec.removeprefix("umi_dst.selftest.")


def _describe(budget: Budget) -> str:
    shape = f"dim {budget.dim}" if budget.dim is not None else "dimension drawn per case"
    cut = (
        f"in shards of {budget.shard_cases} under campaign seed S"
        if budget.shard_cases
        else "one shard under Hypothesis seed S"
    )
    return (
        f"{budget.examples} cases of {budget.steps} steps, {shape}, max bulk {budget.config.max_bulk}"
        + (", one case in six long, a rule per fault" if budget.config.rule_per_fault else "")
        + f", {cut}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m umi_dst.studies.mutation_margins", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--budget", action="append", choices=sorted(BUDGETS), help="default: every budget")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of each budget (default 3)")
    parser.add_argument("--examples", type=int, help="cases per budget run instead of the budget's own (a quick look)")
    parser.add_argument(
        "--backend", action="append", default=[], metavar="SPEC", help="only these planted backends (repeatable)"
    )
    parser.add_argument("--postgres", action="store_true", help="the PostgreSQL crash mutants too (minutes more)")
    parser.add_argument("--json-files", action="store_true", help="the JSON-file crash stores too (minutes a shard)")
    parser.add_argument("--workers", type=int, default=2, help="processes searching at once (default 2)")
    parser.add_argument("--before", type=Path, help="an earlier run's JSON, whose margins go beside this run's")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.workers < 1 or (args.examples is not None and args.examples < 1):
        parser.error("--seeds, --workers and --examples must be at least 1")
    known = planted(postgres=args.postgres or any("postgres" in spec for spec in args.backend),
                    json_files=args.json_files or any("json_files" in spec for spec in args.backend))  # fmt: skip
    unknown = [spec for spec in args.backend if spec not in {p.spec for p in known}]
    if unknown:
        parser.error(f"not a planted backend of this bench: {', '.join(unknown)} (see planted() in {__name__})")
    before = strict_json.read(args.before) if args.before else None
    backends = [p for p in known if not args.backend or p.spec in args.backend]
    budgets = [BUDGETS[name] for name in args.budget or BUDGETS]
    if args.examples is not None:
        budgets = [dataclasses.replace(b, examples=args.examples) for b in budgets]
    seeds = list(range(args.seeds))
    started = datetime.now(timezone.utc)
    rows = run_jobs(jobs(backends, budgets, seeds), {b.name: b for b in budgets}, args.workers)
    now = datetime.now(timezone.utc)
    result = {
        "finished": f"{now:%Y-%m-%d %H:%M} UTC",
        "wall_seconds": round((now - started).total_seconds()),
        "machine": machine_facts(),
        "versions": versions(),
        "settings": {
            "seeds": seeds,
            "workers": args.workers,
            "budgets": [
                {"name": b.name, "examples": b.examples, "steps": b.steps, "description": _describe(b)} for b in budgets
            ],
        },  # fmt: skip
        "rows": [margins(p, b, rows) for b in budgets for p in backends if b.name in p.budgets],
    }
    if before is not None:
        result["before"] = {"path": str(args.before), "commit": before.get("versions", {}).get("umi-dst-commit"),
                            "rows": [{k: r[k] for k in ("spec", "budget", "hit_rate", "margin", "fewest")} for r in before["rows"]]}  # fmt: skip
    stem = args.report_dir / "mutation-margins"
    print(f"report: {report_files.write(stem, result, markdown(result))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
