"""PNG charts of a bench report: throughput and latency against size, recall against QPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot loads
from matplotlib.figure import Figure  # noqa: E402

POINT_OPS = ("store", "update", "get", "exists", "delete", "count")


def figures(report: dict) -> Iterator[tuple[str, Figure]]:
    """``(chart name, figure)`` for every chart the report has data for; the caller closes each."""
    for name, draw in (
        ("load", _load),
        ("search", _search),
        ("point_ops", _point_ops),
        ("recall_qps", _recall_qps),
    ):
        figure = draw(report)
        if figure is not None:
            yield name, figure


def draw_all(report: dict, directory: Path, stem: str) -> dict[str, str]:
    """Draw every chart the report has data for; returns ``{chart name: file name}``."""
    drawn = {}
    for name, figure in figures(report):
        path = directory / f"{stem}-{name}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        drawn[name] = path.name
    return drawn


def _series(report: dict, dim: int, value) -> dict[str, tuple[list[int], list[float]]]:
    """Per backend, ``value(figures)`` against n over the cases of one dimension."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for case in sorted(report["cases"], key=lambda case: case["n"]):
        if case["dim"] != dim:
            continue
        for spec, figures in case["backends"].items():
            if "error" in figures:
                continue
            xs, ys = series.setdefault(spec, ([], []))
            xs.append(case["n"])
            ys.append(value(figures))
    return series


def _main_dim(report: dict) -> int:
    """The dimension with the most sizes (the size-scaling axis)."""
    dims = [case["dim"] for case in report["cases"]]
    return max(set(dims), key=lambda dim: (dims.count(dim), dim))


def _size_chart(report: dict, value, ylabel: str, title: str, baselines=()):
    dim = _main_dim(report)
    series = _series(report, dim, value)
    if not series:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for spec, (xs, ys) in series.items():
        axes.plot(xs, ys, marker="o", label=spec)
    for label, pick in baselines:
        points = [
            (case["n"], pick(case["baselines"]))
            for case in report["cases"]
            if case["dim"] == dim and "baselines" in case
        ]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            axes.plot(*zip(*sorted(points)), linestyle="--", marker=".", label=label)
    axes.set(xscale="log", yscale="log", xlabel="records (n)", ylabel=ylabel, title=f"{title} (dim {dim})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def _baseline(engine: str, *path: str):
    def pick(baselines: dict) -> float | None:
        value = baselines.get(engine)
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return pick


def _load(report: dict):
    return _size_chart(
        report,
        lambda figures: figures["load"]["per_s"],
        "vectors / s",
        "Bulk load (store_batch)",
        baselines=(
            ("raw lancedb create_table", _baseline("lance", "load_per_s")),
            ("raw psycopg COPY", _baseline("postgres", "load_per_s")),
        ),
    )


def _search(report: dict):
    return _size_chart(
        report,
        lambda figures: figures["search"]["limit_10"]["p50_ms"],
        "p50 latency (ms)",
        "search, limit 10",
        baselines=(
            ("numpy matvec", _baseline("numpy", "search", "p50_ms")),
            ("raw lancedb", _baseline("lance", "search_exact", "p50_ms")),
            ("raw pgvector seq scan", _baseline("postgres", "search_exact", "p50_ms")),
            ("Sim scan bound", lambda baselines: baselines.get("sim_scan_bound_ms")),
        ),
    )


def _point_ops(report: dict):
    case = max(report["cases"], key=lambda case: (case["n"], case["dim"]))
    specs = [spec for spec, figures in case["backends"].items() if "error" not in figures]
    if not specs:
        return None
    figure, axes = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(specs)
    for offset, spec in enumerate(specs):
        values = [case["backends"][spec][op]["p50_ms"] for op in POINT_OPS]
        axes.bar([i + offset * width for i in range(len(POINT_OPS))], values, width, label=spec)
    axes.set_xticks([i + width * (len(specs) - 1) / 2 for i in range(len(POINT_OPS))], POINT_OPS)
    axes.set(yscale="log", ylabel="p50 latency (ms)", title=f"Point operations at {case['n']} x {case['dim']}")
    axes.grid(True, axis="y", which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def _recall_qps(report: dict):
    if not report.get("sweeps"):
        return None
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for sweep in report["sweeps"]:
        points = sweep["points"]
        axes.plot(
            [p["recall_at_10"] for p in points],
            [p["per_s"] for p in points],
            marker="o",
            label=f"{sweep['spec']} ({sweep['knob']})",
        )
        for p in points:
            axes.annotate(
                str(p["value"]), (p["recall_at_10"], p["per_s"]), fontsize=7, textcoords="offset points", xytext=(3, 3)
            )
    sample = report["sweeps"][0]
    axes.set(
        yscale="log",
        xlabel="recall@10",
        ylabel="queries / s (one client)",
        title=f"Recall against QPS at {sample['n']} x {sample['dim']}",
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure
