"""Write a bench run as ``bench-<date>-<host>.json`` (raw figures) and a Markdown report with charts."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

from umi_dst import strict_json
from umi_dst.bench import charts, filtered, yardsticks

POINT_OPS = ("store", "update", "get", "exists", "exists_missing", "delete", "delete_missing", "count")


def stem_for(report: dict) -> str:
    """``bench-<UTC date and time>-<host>``: one name per run, sortable by date."""
    created = dt.datetime.fromisoformat(report["created_utc"])
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", report["machine"]["hostname"]) or "host"
    return f"bench-{created:%Y%m%d-%H%M}-{host}"


def write(report: dict, directory: Path) -> tuple[Path, Path]:
    """Write the JSON, the charts and the Markdown into ``directory``; returns (json, markdown)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem_for(report)
    report["charts"] = charts.draw_all(report, directory, stem)
    json_path = directory / f"{stem}.json"
    strict_json.write(json_path, report, default=str)
    markdown_path = directory / f"{stem}.md"
    markdown_path.write_text(markdown(report, json_path.name))
    return json_path, markdown_path


def markdown(report: dict, json_name: str) -> str:
    """The human report: tables for every figure, charts, ratios to baselines and the Rust plan."""
    sections = [
        _header(report, json_name),
        _reading(report),
        _summary(report),
        _load_section(report),
        _search_section(report),
        _point_section(report),
        _baseline_section(report),
        _rust_section(report),
        _goals_section(report),
        _engine_section(report),
        _sweep_section(report),
        _filtered_section(report),
        _framework_section(report),
        _shrink_section(report),
        _errors_section(report),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


# -- formatting --------------------------------------------------------------------------
def fmt(value: object) -> str:
    """Three significant figures, thousands separated; ``-`` for missing values."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 3:
        return f"{value:,.0f}"
    return f"{value:.{max(0, 2 - magnitude)}f}"


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _label(case: dict) -> str:
    return f"{case['n']:,} x {case['dim']}"


def _ok(case: dict):
    """``(spec, figures)`` for each backend of a case that did not fail."""
    return [(spec, figures) for spec, figures in case["backends"].items() if "error" not in figures]


def _chart(report: dict, name: str, caption: str) -> str:
    file = report.get("charts", {}).get(name)
    return f"![{caption}]({file})" if file else ""


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _get(tree: object, *path: str) -> object:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


# -- sections ----------------------------------------------------------------------------
def _header(report: dict, json_name: str) -> str:
    machine = report["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in report["versions"].items())
    config = report["config"]
    cases = ", ".join(f"{n:,} x {dim}" for n, dim in config["cases"])
    load_start = ", ".join(f"{x:.2f}" for x in machine["load_average"])
    load_end = ", ".join(f"{x:.2f}" for x in machine.get("load_average_end", []))
    return "\n".join(
        [
            f"# umi-dst bench, {report['created_utc']} on {machine['hostname']}",
            "",
            f"Raw figures: [`{json_name}`]({json_name}). Run time {fmt(report.get('seconds'))} s.",
            "",
            f"- Machine: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs, {machine['memory_gib']} GiB,"
            f" {machine['platform']}, Python {machine['python']}.",
            f"- Load average (1, 5, 15 min) at start: {load_start}; at end: {load_end}. "
            "Timings were taken on a shared machine while other engineers ran tests, so they carry noise: "
            "compare orders of magnitude and ratios taken in the same run, not single digits.",
            f"- Memory bandwidth (streaming read, BLAS matrix-vector product over 1 GiB): {fmt(report['memory_bandwidth_gib_s'])} GiB/s;"
            f" last-level cache {fmt(machine.get('last_level_cache_mib'))} MiB (a Sim matrix smaller than that is scanned from cache,"
            " so it can beat the memory-bandwidth bound).",
            f"- Versions: {versions}.",
            f"- Cases: {cases}; {config['queries']} queries per limit, {config['singles']} calls per point operation,"
            f" data seed {config['seed']} (clustered unit vectors, queries near the clusters).",
            "- Latencies are one client, back to back; `/s` is calls per second at that latency.",
            "- Peak RSS is the rise of the bench process's resident set during a backend's run (the Sim and Lance "
            "run in it; the PostgreSQL server's own memory is not counted). Disk is the store's directory, or for "
            "Postgres `pg_total_relation_size` of its table.",
        ]
    )


def _reading(report: dict) -> str:
    """A person's written reading of the figures, kept in the JSON so a re-render keeps it."""
    reading = report.get("reading")
    return f"## Reading\n\n{reading.strip()}" if reading else ""


def _summary(report: dict) -> str:
    if not report["cases"]:
        return ""
    case = max(report["cases"], key=lambda case: (case["n"], case["dim"]))
    rows = [
        [
            spec,
            f["load"]["per_s"],
            f["store"]["p50_ms"],
            f["update"]["p50_ms"],
            f["search"]["limit_10"]["p50_ms"],
            f["search"]["limit_10"]["p99_ms"],
            f["search"]["limit_10"]["per_s"],
            f["recall_at_10"],
            f["get"]["p50_ms"],
            f["delete"]["p50_ms"],
            f["peak_rss_mib"],
            f["disk_mib"],
            f["wall_s"],
        ]
        for spec, f in _ok(case)
    ]
    headers = [
        "backend",
        "load /s",
        "store ms",
        "update ms",
        "search@10 p50 ms",
        "p99 ms",
        "search /s",
        "recall@10",
        "get ms",
        "delete ms",
        "peak RSS MiB",
        "disk MiB",
        "bench wall s",
    ]
    return f"## Summary at {_label(case)}\n\n" + table(headers, rows)


def _load_section(report: dict) -> str:
    rows = []
    for case in report["cases"]:
        exact = {spec.split("-")[0]: f["load"]["seconds"] for spec, f in _ok(case) if not f["approximate"]}
        for spec, f in _ok(case):
            index_cost = (
                f["load"]["seconds"] - exact[spec.split("-")[0]]
                if f["approximate"] and spec.split("-")[0] in exact
                else None
            )
            rows.append([_label(case), spec, f["load"]["seconds"], f["load"]["per_s"], index_cost])
        for engine in ("lance", "postgres"):
            raw = _get(case, "baselines", engine)
            if isinstance(raw, dict) and "load_per_s" in raw:
                rows.append([_label(case), f"raw {engine}", raw["load_s"], raw["load_per_s"], raw.get("index_s")])
        checks = _get(case, "baselines", "validation")
        if checks is not None:
            rows.append([_label(case), "input checks only", checks["batch_s"], checks["batch_per_s"], None])
    note = (
        "The approximate backends build their index during the load (Lance once a few rows exist, pgvector's HNSW "
        "from the first row); `index s` is their load time minus the exact backend's on the same engine, and for "
        "the raw engines the time of one `CREATE INDEX` after the load. `input checks only` is the contract's "
        "input checks that start every `store_batch` (`validate_batch` + `last_wins`), timed alone after the "
        "backends."
    )
    body = table(["case", "backend", "seconds", "vectors /s", "index s"], rows)
    return "\n\n".join(
        ["## Bulk load (one store_batch of the whole data set)", note, body, _chart(report, "load", "load throughput")]
    )


def _search_section(report: dict) -> str:
    rows = []
    for case in report["cases"]:
        for spec, f in _ok(case):
            search = f["search"]
            rows.append(
                [
                    _label(case),
                    spec,
                    *(search[f"limit_{k}"]["p50_ms"] for k in (1, 5, 10, 20)),
                    search["limit_10"]["p99_ms"],
                    search["limit_10"]["per_s"],
                    f["recall_at_10"],
                ]
            )
    headers = ["case", "backend", "p50 ms @1", "@5", "@10", "@20", "p99 ms @10", "QPS @10", "recall@10"]
    return "\n\n".join(["## Search", table(headers, rows), _chart(report, "search", "search latency")])


def _point_section(report: dict) -> str:
    rows = []
    for case in report["cases"]:
        for spec, f in _ok(case):
            rows.append([_label(case), spec, *(f[op]["p50_ms"] for op in POINT_OPS)])
    rows_p99 = [
        [_label(case), spec, *(f[op]["p99_ms"] for op in POINT_OPS)]
        for case in report["cases"]
        for spec, f in _ok(case)
    ]
    headers = ["case", "backend", *POINT_OPS]
    checks = [
        [_label(case), _get(case, "baselines", "validation", "single", "p50_ms")]
        for case in report["cases"]
        if _get(case, "baselines", "validation", "single") is not None
    ]
    return "\n\n".join(
        [
            "## Point operations (p50 ms)",
            "`store` inserts new ids one call at a time, `update` upserts existing ids, `*_missing` asks for absent ids.",
            table(headers, rows),
            "p99 ms:",
            table(headers, rows_p99),
            "The input checks of one `store` alone (`validate_id` + `validate_embedding`), p50 ms:",
            table(["case", "checks ms"], checks),
            _chart(report, "point_ops", "point operations"),
        ]
    )


def _baseline_section(report: dict) -> str:
    """Each backend as a ratio to its own engine used raw, and the Sim to the bandwidth bound."""
    rows = []
    for case in report["cases"]:
        baselines = case.get("baselines") or {}
        for spec, f in _ok(case):
            engine = spec.split("-")[0]
            raw = baselines.get(engine) if engine != "sim" else baselines.get("numpy")
            if not isinstance(raw, dict) or "error" in raw:
                continue
            mode = "search_approx" if f["approximate"] else "search_exact"
            raw_search = _get(raw, mode, "p50_ms") if engine != "sim" else _get(raw, "search", "p50_ms")
            bound = baselines.get("sim_scan_bound_ms") if engine == "sim" else None
            search_ms = f["search"]["limit_10"]["p50_ms"]
            raw_load_s = raw.get("load_s", 0) + (raw.get("index_s", 0) if f["approximate"] else 0)
            rows.append(
                [
                    _label(case),
                    spec,
                    _ratio(raw_load_s, f["load"]["seconds"]) if raw_load_s else None,
                    raw_search,
                    search_ms,
                    _ratio(search_ms, raw_search),
                    bound,
                    _ratio(search_ms, bound),
                ]
            )
    if not rows:
        return ""
    headers = [
        "case",
        "backend",
        "load / raw load",
        "raw search p50 ms",
        "search p50 ms",
        "search / raw",
        "scan bound ms",
        "search / bound",
    ]
    notes = (
        "Raw engines: `lancedb` `create_table` from one Arrow table and `search().distance_type('cosine')`; psycopg binary "
        "`COPY` with `write_row` into a table with a primary key, and `ORDER BY embedding <=> q LIMIT 10` (sequential scan; "
        "after `CREATE INDEX ... USING hnsw` for the approximate row); numpy: one float32 matrix-vector product and "
        "`argpartition` (the Sim's raw engine). The scan bound is the time to read the Sim's float64 unit matrix once "
        "at the measured memory bandwidth. For an approximate backend the raw load includes the raw index build. "
        "Load ratios above 1 and search ratios below 1 favour the backend."
    )
    raw_rows = []
    for case in report["cases"]:
        for engine, raw in (case.get("baselines") or {}).items():
            if not isinstance(raw, dict) or "error" in raw:
                continue
            for mode in ("search", "search_exact", "search_approx"):
                if mode in raw:
                    raw_rows.append(
                        [
                            _label(case),
                            engine,
                            mode,
                            raw.get("load_per_s"),
                            raw.get("index_s") if mode == "search_approx" else None,
                            raw[mode]["p50_ms"],
                            raw[mode]["p99_ms"],
                            raw.get(f"{mode}_recall_at_10"),
                        ]
                    )
    raw_table = table(
        ["case", "raw engine", "mode", "load /s", "index s", "p50 ms @10", "p99 ms", "recall@10"], raw_rows
    )
    return "\n\n".join(["## Ratios to the raw engines", notes, table(headers, rows), "Raw engine figures:", raw_table])


def _rust_section(report: dict) -> str:
    small = [case for case in report["cases"] if case["n"] == 100]
    rows = []
    for case in small:
        for spec, f in _ok(case):
            ratios = yardsticks.rust_ratios(spec, f)
            if ratios is None:
                continue
            plan = yardsticks.RUST_PLAN[spec.removesuffix("-approx")]
            rows.append(
                [
                    _label(case),
                    spec,
                    plan["store_ms"],
                    f["store"]["p50_ms"],
                    ratios["store"],
                    plan["load_per_s"],
                    f["load"]["per_s"],
                    ratios["load"],
                    plan["search_100_ms"],
                    f["search"]["limit_10"]["p50_ms"],
                    ratios["search"],
                ]
            )
    if not rows:
        return ""
    headers = [
        "case",
        "backend",
        "plan store ms",
        "store ms",
        "x",
        "plan load /s",
        "load /s",
        "x",
        "plan search ms",
        "search ms",
        "x",
    ]
    note = (
        "The Rust plan's Criterion figures (single insert, batches of 10-100, search over 100 records) against the "
        "100-record case here; `x` is how many times better this implementation is (above 1 is better). The plan's "
        "dimension is not known, so take these as orders of magnitude."
    )
    return "\n\n".join(["## Against the original Rust plan", note, table(headers, rows)])


def _goals_section(report: dict) -> str:
    rows = yardsticks.goal_rows(report)
    if not rows:
        return ""
    n, dim = yardsticks.GOAL_CASE
    note = f"Bulk `store_batch` of {n:,} x {dim} against the goals of the backend issues; `x target` at or above 1 meets the goal."
    return "\n\n".join(
        ["## Bulk-load goals", note, table(["backend", "goal", "target /s", "measured /s", "x target"], rows)]
    )


def _engine_section(report: dict) -> str:
    """Engine state after each stage (Lance fragments and versions, Postgres sizes) and compaction."""
    rows = []
    for case in report["cases"]:
        for spec, f in _ok(case):
            for stage, engine_facts in f.get("engine", {}).items():
                if engine_facts:
                    rows.append(
                        [
                            _label(case),
                            spec,
                            stage.replace("_", " "),
                            ", ".join(f"{key} {fmt(value)}" for key, value in engine_facts.items()),
                        ]
                    )
    maintenance = [
        [
            _label(case),
            spec,
            f["maintenance"]["search_before"]["p50_ms"],
            f["maintenance"]["seconds"],
            f["maintenance"]["search_after"]["p50_ms"],
        ]
        for case in report["cases"]
        for spec, f in _ok(case)
        if "maintenance" in f
    ]
    if not rows and not maintenance:
        return ""
    parts = [
        "## Engine state",
        "After the bulk load, after the single writes (each one its own commit), and after compaction.",
        table(["case", "backend", "stage", "facts"], rows),
    ]
    if maintenance:
        parts += [
            "Compaction (Lance `optimize()`) after the single writes, with search@10 p50 before and after it:",
            table(["case", "backend", "search before ms", "optimize s", "search after ms"], maintenance),
        ]
    return "\n\n".join(parts)


def _sweep_section(report: dict) -> str:
    if not report.get("sweeps"):
        return ""
    parts = [
        "## Approximate search: recall against QPS",
        "Each knob swept with the others at their defaults; one client, limit 10, recall@10 against the Sim.",
    ]
    for curve in report["sweeps"]:
        rows = [[p["value"], p["recall_at_10"], p["p50_ms"], p["p99_ms"], p["per_s"]] for p in curve["points"]]
        parts.append(
            f"**{curve['spec']}** at {curve['n']:,} x {curve['dim']}, knob `{curve['knob']}` (default {curve['default']});"
            f" load with index {fmt(curve['load_s'])} s; index: {curve['index']}"
        )
        parts.append(table([curve["knob"], "recall@10", "p50 ms", "p99 ms", "QPS"], rows))
    parts.append(_chart(report, "recall_qps", "recall against QPS"))
    return "\n\n".join(parts)


def _filtered_section(report: dict) -> str:
    data = report.get("filtered")
    if not data or not data["rows"]:
        return ""
    note = (
        f'At {data["n"]:,} x {data["dim"]}, each record tagged `{{"bucket": i % 100}}`; the filter '
        '`{"bucket": {"$lt": s}}` selects s% of the store. Per backend and selectivity, '
        f"{data['queries']} queries for the top {filtered.LIMIT} through `backend.search(q, {filtered.LIMIT}, filter)`, "
        "then through the engine directly with the filter the backend sends and the same search settings "
        "(`raw`), on the same store; recall against the Sim's exact filtered top 10; *short* counts answers "
        f"with fewer than min({filtered.LIMIT}, matching) results (a contract violation, not a recall loss)."
    )
    rows = [filtered.cells(row) for row in data["rows"]]
    return "\n\n".join(["## Filtered search", note, table(filtered.HEADERS, rows), filtered.goal_line(data["rows"])])


def _framework_section(report: dict) -> str:
    framework = report.get("framework")
    if not framework:
        return ""
    bare = framework["bare"]
    parts = ("backend", "setup", "nemesis")
    rows = [
        [
            "bare Hypothesis machine",
            bare["steps"],
            None,
            None,
            bare["seconds"],
            bare["steps_per_s"],
            1.0,
            None,
            None,
            None,
            1.0,
        ]
    ]
    for spec, f in framework["backends"].items():
        if "error" in f:
            rows.append([f"contract machine, {spec}"] + [None] * 10)
            continue
        shares = [f[f"{part}_share"] for part in parts]
        rows.append(
            [
                f"contract machine, {spec}",
                f["steps"],
                f.get("operations"),
                f.get("nemesis_strikes"),
                f["seconds"],
                f["steps_per_s"],
                bare["steps_per_s"] / f["steps_per_s"],
                *shares,
                1 - sum(shares),
            ]
        )
    note = (
        "Contract-machine steps per second (dim 16, generation only, derandomised) next to a machine whose rules "
        "do nothing. A step is one rule call; `operations` counts what those rules ran on the backend and the oracle "
        "(one rule may run several); `nemesis strikes`, how many writes ran under a nemesis (a server crash, "
        "a killed or competing writer...), the costliest steps, whose number depends on the drawn cases. `slowdown` is bare steps/s over the machine's. The run's wall time splits (as shares) into calls "
        "into the backend, store setup (building, opening and destroying a fresh store per test case), the nemeses' "
        "own work (starting and killing helper processes or servers), and the rest, the framework: Hypothesis, the "
        "oracle and the checks. Each backend first gets one untimed store, so the once-per-process costs "
        "(importing the engine, starting the embedded server) stay out of its steps, as in a campaign, where a "
        "worker pays them once."
    )
    headers = [
        "machine",
        "steps",
        "operations",
        "nemesis strikes",
        "seconds",
        "steps /s",
        "slowdown",
        "backend",
        "store setup",
        "nemesis",
        "framework",
    ]
    return "\n\n".join(["## Framework overhead", note, table(headers, rows)])


def _shrink_section(report: dict) -> str:
    shrink = report.get("shrink")
    if not shrink:
        return ""
    rows = []
    for spec, f in shrink.items():
        if "error" in f and "found" not in f:
            rows.append([spec, None, None, None, None, None, f["error"]])
        elif not f["found"]:
            rows.append([spec, "no", f["examples"], None, None, None, None])
        else:
            rows.append(
                [spec, "yes", f["examples"], f["find_seconds"], f["shrink_seconds"], f["shrunk_steps"], f["error"]]
            )
    note = (
        "A failure found and shrunk on each case-study backend (dim 16, derandomised): seconds until the first "
        "failing test case, then seconds Hypothesis spent shrinking it (every shrink step is a replay on a fresh "
        "store), and the length of the shrunk failure."
    )
    headers = ["backend", "found", "test cases", "find s", "shrink s", "shrunk steps", "failure"]
    return "\n\n".join(["## Shrinking", note, table(headers, rows)])


def _errors_section(report: dict) -> str:
    if not report["errors"]:
        return ""
    lines = ["## Errors", ""] + [f"- {error['error']}" for error in report["errors"]]
    return "\n".join(lines)
