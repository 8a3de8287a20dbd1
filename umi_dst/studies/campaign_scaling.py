"""The main job (``umi-dst run``) on 1 and 2 worker processes, same budget and seed, side by side.

Each configuration runs the real command in a fresh process (imports, worker processes, the
embedded PostgreSQL servers and all) on a copy of ``seeds/``, so the existing seeds are replayed
as in the main job; its report is read back for the wall time, each shard's seconds and when
the driver received it. The same seed runs the same test cases with any number of workers, so
the configurations do the same work. From the shard seconds of the one-worker run (no worker
competes with another there), the driver's own queue (``dispatch``) is replayed on more workers
than this machine has: the predicted wall time past its cores, and what bounds it (the longest
shard, or the work divided by the workers). Run ``python -m umi_dst.studies.campaign_scaling``;
it writes ``reports/campaign-scaling-<time>-<host>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from umi_dst import strict_json
from umi_dst.bench.host import machine_facts
from umi_dst.campaign.dispatch import ShardQueue
from umi_dst.campaign.shard import DEFAULT_EXAMPLES, DEFAULT_STEPS, ShardResult
from umi_dst.campaign.shards import Shard
from umi_dst.studies import report_files

PROJECT = Path(__file__).resolve().parents[2]
PREDICTED_WORKERS = (1, 2, 4, 8, 16, 32)


def run_main_job(
    workers: int, *, examples: int, steps: int, seed: int, backends: Sequence[str], seeds: Path, scratch: Path
) -> dict:
    """``umi-dst run --workers N`` in a fresh process on a copy of ``seeds``; its timings."""
    seeds_copy, report_dir = scratch / f"seeds-{workers}", scratch / f"report-{workers}"
    shutil.rmtree(seeds_copy, ignore_errors=True)
    shutil.copytree(seeds, seeds_copy)
    command = [sys.executable, "-m", "umi_dst.cli", "run", "--workers", str(workers), "--examples", str(examples),
               "--steps", str(steps), "--seed", str(seed), "--seeds-dir", str(seeds_copy), "--report-dir", str(report_dir)]  # fmt: skip
    command += [arg for spec in backends for arg in ("--backend", spec)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])}
    load_before, cpu_before, machine_before = os.getloadavg(), _children_cpu_seconds(), _machine_busy_seconds()
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    cpu = _children_cpu_seconds() - cpu_before
    machine_busy = _machine_busy_seconds() - machine_before
    if done.returncode not in (0, 1):
        raise RuntimeError(f"umi-dst run --workers {workers} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    report_json = next(report_dir.glob("*.json"))
    report = strict_json.read(report_json)
    shards = sorted(report["shards"], key=lambda s: s["ended"])
    return {
        "workers": workers,
        "exit_status": done.returncode,
        "wall_seconds": round(wall, 1),
        "campaign_seconds": report["wall_seconds"],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_seconds": round(cpu, 1),
        "machine_busy_cores": round(machine_busy / wall, 2),
        "cases": {backend: c["cases"] for backend, c in report["coverage"].items()},
        "bugs": len(report["bugs"]),
        "shard_seconds": round(sum(s["seconds"] for s in shards), 1),
        "shards": [
            {k: s[k] if k != "shard" else s["shard"] for k in ("shard", "cases", "seconds", "ended")} for s in shards
        ],
        "last_alone_seconds": round(shards[-1]["ended"] - shards[-2]["ended"], 1) if len(shards) > 1 else 0.0,
        "report": str(report_json.with_suffix("")),
    }


def _children_cpu_seconds() -> float:
    """User and system CPU of the finished processes this one waited for, and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot (Linux ``/proc/stat``): this
    counts the PostgreSQL servers and every engine thread, which are not the command's children."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _backend_seconds(run: dict) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for shard in run["shards"]:
        backend = shard["shard"]["backend"]
        seconds[backend] = seconds.get(backend, 0.0) + shard["seconds"]
    return seconds


def predicted_wall(shards: Sequence[dict], workers: int) -> float:
    """The driver's queue replayed with measured shard seconds on ``workers`` idle workers."""
    queue = ShardQueue(iter(Shard(**s["shard"]) for s in shards), reorder=True)
    measured = {(s["shard"]["backend"], s["shard"]["index"]): s for s in shards}
    free_at = [0.0] * workers
    running: list[tuple[float, int, Shard]] = []
    order = itertools.count()
    while True:
        start = free_at[0]
        while running and running[0][0] <= start:  # results in by the time a worker is free
            queue.finished(_result(heapq.heappop(running)[2], measured))
        shard = queue.next()
        if shard is None:
            return max(free_at)
        end = start + measured[shard.backend, shard.index]["seconds"]
        heapq.heapreplace(free_at, end)
        heapq.heappush(running, (end, next(order), shard))


def _result(shard: Shard, measured: dict) -> ShardResult:
    taken = measured[shard.backend, shard.index]
    return ShardResult(shard, cases=taken["cases"], seconds=taken["seconds"])


def scaling(runs: Sequence[dict]) -> dict:
    """Speed-ups over the one-worker runs (medians when repeated), and predictions from their shard seconds."""
    walls = {
        r["workers"]: statistics.median(x["wall_seconds"] for x in runs if x["workers"] == r["workers"]) for r in runs
    }
    one = next(r for r in runs if r["workers"] == 1)
    predicted = {n: predicted_wall(one["shards"], n) for n in PREDICTED_WORKERS}
    cores = os.cpu_count() or 1
    return {
        "speedup": {str(n): round(walls[1] / wall, 2) for n, wall in walls.items()},
        "one_worker_busy_cores": one["machine_busy_cores"],
        "bound_on_this_machine": round(cores / one["machine_busy_cores"], 2),
        "longest_shard_seconds": max(s["seconds"] for s in one["shards"]),
        "predicted": {
            str(n): {"campaign_seconds": round(wall, 1), "speedup": round(predicted[1] / wall, 2)}
            for n, wall in predicted.items()
        },
    }


def markdown(result: dict) -> str:
    s, facts = result["settings"], result["machine"]
    lines = [
        f"# Campaign scaling: the main job on 1 and more workers, {result['finished']}",
        "",
        f"`python -m umi_dst.studies.campaign_scaling`: `umi-dst run` with {s['examples']} cases of {s['steps']} steps per "
        f"backend ({', '.join(s['backends']) or 'every available built-in'}), seed {s['seed']}, each configuration a fresh "
        f"process, run one after the other in this order (the {max(r['workers'] for r in result['runs'])}-worker run's "
        f"campaign report is beside this one: `{next(r['report'] for r in result['runs'] if r['report'])}.md`). Host {facts['hostname']}: {facts['logical_cpus']} logical CPUs "
        f"({facts['cpu_model']}), {facts['memory_gib']} GiB. The machine is shared: the load averages (1, 5, 15 min) "
        "before and after each run are in the table.",
        "",
        "| workers | wall s | campaign s | speed-up | CPU s (cores busy) | machine cores busy | shard-seconds | last shard alone s | load before | load after | cases |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        load = lambda xs: " / ".join(f"{x:.1f}" for x in xs)  # noqa: E731
        lines.append(
            f"| {r['workers']} | {r['wall_seconds']} | {r['campaign_seconds']} | {result['scaling']['speedup'][str(r['workers'])]}x "
            f"| {r['cpu_seconds']} ({r['cpu_seconds'] / r['wall_seconds']:.2f}) | {r.get('machine_busy_cores', '-')} "
            f"| {r['shard_seconds']} | {r['last_alone_seconds']} "
            f"| {load(r['load_before'])} | {load(r['load_after'])} "
            f"| {sum(r['cases'].values())} |"
        )
    lines += [
        "",
        "*wall s*: the whole command, imports and report included; *campaign s*: the driver's own clock; *CPU s*: user "
        "and system CPU of the command and every process it waited for (workers, helpers; not the PostgreSQL servers, "
        "which are not its children), and that over the wall time: how many cores it kept busy; *shard-seconds*: the "
        "seconds the searching shards took, summed (work, and any waiting for a CPU; not the replays of existing seeds "
        "or the shrinking of new findings); *last shard alone*: from the second-to-last shard's result to the last "
        "one's, the time one worker ran while the others had nothing left; *machine cores busy*: the whole machine's "
        "non-idle CPU time over the wall time (the PostgreSQL servers and every engine thread included, and whatever "
        "else ran: on a quiet machine, the run).",
        "",
        *_bound(result),
        *_per_backend(result),
        "## Past this machine's cores (predicted)",
        "",
        "The one-worker run's shard seconds replayed through the driver's queue on N idle workers "
        f"(no start-up, no contention). The longest shard took {result['scaling']['longest_shard_seconds']} s: no number "
        "of workers finishes the campaign sooner.",
        "",
        "| workers | campaign s | speed-up |",
        "|---|---|---|",
    ]
    for n, p in result["scaling"]["predicted"].items():
        lines.append(f"| {n} | {p['campaign_seconds']} | {p['speedup']}x |")
    return "\n".join(lines) + "\n"


def _bound(result: dict) -> list[str]:
    """What the one-worker run's own parallelism leaves for more workers on this machine."""
    scaled = result["scaling"]
    if "one_worker_busy_cores" not in scaled:
        return []
    return [
        f"One worker alone kept {scaled['one_worker_busy_cores']} of this machine's {result['machine']['logical_cpus']} "
        f"cores busy: its engines already run on more than one core (PostgreSQL in its own server processes, LanceDB "
        f"on its thread pools), so more workers on this machine cannot pass about {scaled['bound_on_this_machine']}x, "
        "however well the shards are spread.",
        "",
    ]


def _per_backend(result: dict) -> list[str]:
    """Shard-seconds per backend and worker count: which engines slow down when workers share the cores."""
    per_run = [(r["workers"], _backend_seconds(r)) for r in result["runs"]]
    backends = list(per_run[0][1])
    lines = ["| backend | " + " | ".join(f"{w} worker(s) shard-s" for w, _ in per_run) + " |",
             "|---|" + "---|" * len(per_run)]  # fmt: skip
    for backend in backends:
        lines.append(
            f"| {backend} | " + " | ".join(f"{seconds.get(backend, 0.0):.1f}" for _, seconds in per_run) + " |"
        )
    return ["Shard-seconds per backend: the same shards' summed seconds in each run.", "", *lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m umi_dst.studies.campaign_scaling", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker counts to run, in this order (default 1,2; must include 1)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="rounds; every other round runs the counts in reverse order"
    )
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=2664187373)
    parser.add_argument(
        "--backend", action="append", default=[], metavar="SPEC", help="default: the main job's backends"
    )
    parser.add_argument(
        "--seeds-dir", type=Path, default=PROJECT / "seeds", help="copied for each run (default: the project's seeds/)"
    )
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    if 1 not in counts or min(counts) < 1 or args.repeats < 1:
        parser.error("--workers must list positive counts including 1, and --repeats must be at least 1")
    runs = []
    with tempfile.TemporaryDirectory(prefix="umi-campaign-scaling-") as scratch:
        for round in range(args.repeats):
            for workers in counts if round % 2 == 0 else counts[::-1]:
                print(f"umi-dst run --workers {workers} ...", file=sys.stderr, flush=True)
                runs.append(run_main_job(workers, examples=args.examples, steps=args.steps, seed=args.seed,
                                         backends=args.backend, seeds=args.seeds_dir, scratch=Path(scratch)))  # fmt: skip
                print(f"  {runs[-1]['wall_seconds']} s", file=sys.stderr, flush=True)
        args.report_dir.mkdir(parents=True, exist_ok=True)
        main_job = max(runs, key=lambda r: r["workers"])  # the main job's own report, coverage and all
        for suffix in (".md", ".json"):
            shutil.copy(main_job["report"] + suffix, args.report_dir)
        for run in runs:
            run["report"] = Path(run["report"]).name if run is main_job else None
    now = datetime.now(timezone.utc)
    result = {
        "finished": f"{now:%Y-%m-%d %H:%M} UTC",
        "machine": machine_facts(),
        "settings": {"examples": args.examples, "steps": args.steps, "seed": args.seed, "backends": args.backend},
        "runs": runs,
        "scaling": scaling(runs),
    }
    stem = args.report_dir / f"campaign-scaling-{now:%Y%m%d-%H%M}-{result['machine']['hostname']}"
    print(f"report: {report_files.write(stem, result, markdown(result))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
