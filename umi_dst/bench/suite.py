"""The whole bench run: every case (size x dim) for every backend and baseline, plus sweeps
and the framework-overhead figure, collected into one plain dict (the JSON report)."""

from __future__ import annotations

import datetime as dt
import shutil
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from umi_dst import registry
from umi_dst.bench import baselines, engines, filtered, framework, host
from umi_dst.bench.data import clustered
from umi_dst.bench.measure import measure_backend
from umi_dst.bench.truth import GroundTruth

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run depends on; written into the report as given (defaults: ``command``)."""

    backends: tuple[str, ...]
    cases: tuple[tuple[int, int], ...]
    """``(n, dim)`` pairs."""
    queries: int
    """Queries per search limit."""
    singles: int
    """Calls per point operation."""
    seed: int
    baselines: bool
    sweep: bool
    """Sweep approximate backends' search knobs at the largest case."""
    framework_examples: int
    """Hypothesis examples per backend for the framework-overhead figure; 0 skips it."""
    framework_steps: int
    shrink_examples: int
    """Test cases to find a failure on each ``SHRINK_BACKENDS`` backend (then shrunk); 0 skips."""
    workdir: Path
    filtered: bool = True
    """Measure filtered search (``umi_dst.bench.filtered``) at the largest case."""


SHRINK_BACKENDS = ("lance-upstream", "postgres-upstream")
"""The case studies: backends whose bugs are known, so finding and shrinking one is sure."""


def run(config: BenchConfig, *, progress: bool = True) -> dict:
    """Run every measurement of ``config`` and return the report data."""
    started = dt.datetime.now(dt.timezone.utc)
    report: dict = {
        "schema": SCHEMA_VERSION,
        "created_utc": started.isoformat(timespec="seconds"),
        "machine": host.machine_facts(),
        "versions": host.versions(),
        "config": {**asdict(config), "workdir": str(config.workdir)},
        "memory_bandwidth_gib_s": baselines.memory_bandwidth_gib_s(),
        "cases": [],
        "sweeps": [],
        "errors": [],
    }
    units = len(config.cases) * (len(config.backends) + (1 if config.baselines else 0))
    units += (len(config.backends) + 1) * bool(config.framework_examples)
    units += len(SHRINK_BACKENDS) * bool(config.shrink_examples)
    units += len(config.backends) * (config.filtered and bool(config.cases))
    with tqdm(total=units, desc="bench", unit="step", disable=not progress) as bar:
        for n, dim in config.cases:
            report["cases"].append(_case(config, n, dim, bar, report))
        if config.filtered and config.cases:
            report["filtered"] = _filtered(config, bar, report)
        if config.framework_examples:
            report["framework"] = _framework(config, bar, report)
        if config.shrink_examples:
            report["shrink"] = _shrink(config, bar, report)
    report["machine"]["load_average_end"] = host.load_average()
    report["seconds"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    return report


def _case(config: BenchConfig, n: int, dim: int, bar: tqdm, report: dict) -> dict:
    label = f"{n}x{dim}"
    bar.set_postfix_str(f"{label} data")
    dataset = clustered(n, dim, queries=config.queries, seed=config.seed)
    truth = GroundTruth.of(dataset)
    case: dict = {"n": n, "dim": dim, "clusters": dataset.clusters, "queries": config.queries, "backends": {}}
    sweep_knobs = config.sweep and (n, dim) == max(config.cases)
    for spec in config.backends:
        workdir = config.workdir / label / spec
        figures = case["backends"][spec] = _guarded(
            report,
            f"{spec} {label}",
            lambda: measure_backend(
                spec,
                dataset,
                truth,
                workdir,
                singles=config.singles,
                sweep_knobs=sweep_knobs,
                note=lambda phase: bar.set_postfix_str(f"{label} {spec} {phase}"),
            ),
        )
        report["versions"].update(figures.get("versions", {}))
        for curve in figures.pop("sweeps", []):
            context = {
                "spec": spec,
                "n": n,
                "dim": dim,
                "load_s": figures["load"]["seconds"],
                "index": figures["index"],
            }
            report["sweeps"].append({**context, **curve})
        shutil.rmtree(workdir, ignore_errors=True)
        bar.update()
    if config.baselines:
        bar.set_postfix_str(f"{label} raw baselines")
        case["baselines"] = _baselines(config, dataset, truth, report, config.workdir / label / "raw")
        bar.update()
    return case


def _baselines(config: BenchConfig, dataset, truth: GroundTruth, report: dict, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    out = {
        "validation": baselines.validation(dataset),
        "numpy": baselines.numpy_scan(dataset, truth),
        "sim_scan_bound_ms": baselines.scan_bound_ms(dataset.n, dataset.dim, report["memory_bandwidth_gib_s"]),
    }
    engines_used = {spec.split("-")[0] for spec in config.backends}
    if "lance" in engines_used:
        index = engines.lance_raw_index(config.backends)
        out["lance"] = _guarded(report, "raw lance", lambda: baselines.lance_raw(dataset, truth, workdir, index))
    if "postgres" in engines_used:
        hnsw = engines.postgres_raw_hnsw(config.backends)
        out["postgres"] = _guarded(
            report,
            "raw postgres",
            lambda: engines.with_postgres(
                lambda url: baselines.postgres_raw(dataset, truth, url, "umi_dst_bench_raw", hnsw)
            ),
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def _filtered(config: BenchConfig, bar: tqdm, report: dict) -> dict:
    """Filtered search per selectivity at the largest case, each backend beside its raw engine."""
    n, dim = max(config.cases)
    dataset = clustered(n, dim, queries=config.queries, seed=config.seed)
    oracle = filtered.oracle_for(dataset)
    out: dict = {"n": n, "dim": dim, "queries": config.queries, "rows": []}
    for spec in config.backends:
        bar.set_postfix_str(f"filtered: {spec}")
        workdir = config.workdir / "filtered" / spec
        measured = _guarded(
            report, f"filtered {spec}", lambda: {"rows": filtered.measure(spec, dataset, oracle, workdir)}
        )
        out["rows"] += measured.get("rows", [])
        shutil.rmtree(workdir, ignore_errors=True)
        bar.update()
    return out


def _framework(config: BenchConfig, bar: tqdm, report: dict) -> dict:
    bar.set_postfix_str("framework: bare machine")
    out = {"bare": framework.bare_machine(config.framework_examples, config.framework_steps), "backends": {}}
    bar.update()
    for spec in config.backends:
        bar.set_postfix_str(f"framework: {spec}")
        workdir = config.workdir / "framework" / spec
        out["backends"][spec] = _guarded(
            report,
            f"framework {spec}",
            lambda: framework.contract_machine(spec, workdir, config.framework_examples, config.framework_steps),
        )
        shutil.rmtree(workdir, ignore_errors=True)
        bar.update()
    return out


def _shrink(config: BenchConfig, bar: tqdm, report: dict) -> dict:
    out = {}
    for spec in SHRINK_BACKENDS:
        bar.set_postfix_str(f"shrink: {spec}")
        workdir = config.workdir / "shrink" / spec
        out[spec] = _guarded(
            report,
            f"shrink {spec}",
            lambda: framework.shrink(spec, workdir, config.shrink_examples, config.framework_steps),
        )
        shutil.rmtree(workdir, ignore_errors=True)
        bar.update()
    return out


def _guarded(report: dict, what: str, action):
    """Run one measurement; a failure is recorded in the report (and the run goes on)."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - a broken backend must not hide the others' figures
        message = f"{what}: {type(exc).__name__}: {exc}"
        report["errors"].append({"what": what, "error": message, "traceback": traceback.format_exc()})
        return {"error": message}


def available_backends(specs: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """The specs whose modules import here, and why each other one does not."""
    ready, missing = [], {}
    for spec in specs:
        ok, reason = registry.available(spec)
        if ok:
            ready.append(spec)
        else:
            missing[spec] = reason
    return tuple(ready), missing
