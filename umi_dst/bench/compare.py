"""Two bench reports side by side: every figure both have, with the ratio B / A.

Figures are matched by their path in the report (case, backend, operation, statistic), so
runs on different machines, versions or commits line up as long as they share cases.
"""

from __future__ import annotations

from pathlib import Path

from umi_dst import strict_json
from umi_dst.bench.report import table

SKIPPED_SECTIONS = (
    "schema",
    "config",
    "machine",
    "versions",
    "errors",
    "charts",
    "unavailable",
    "created_utc",
    "reading",
)
SKIPPED_LEAVES = ("calls", "n", "dim", "clusters", "queries", "examples", "value", "recall_floor")


class UnreadableReport(ValueError):
    """A file that is not a bench report JSON."""


def load(path: Path) -> dict:
    try:
        data = strict_json.read(path)
    except (OSError, ValueError) as exc:
        raise UnreadableReport(f"cannot read bench report {path}: {exc}") from None
    if not isinstance(data, dict) or "cases" not in data or "schema" not in data:
        raise UnreadableReport(f"{path} is not a bench report (no 'schema' or 'cases')")
    return data


def figures(report: dict) -> dict[str, float]:
    """Every numeric figure of a report under a readable path, e.g. ``10000x1536/lance/store/p50_ms``."""
    out: dict[str, float] = {}
    for case in report["cases"]:
        label = f"{case['n']}x{case['dim']}"
        _flatten(case.get("backends", {}), label, out)
        _flatten(case.get("baselines", {}), f"{label}/raw", out)
    for sweep in report.get("sweeps", []):
        for point in sweep["points"]:
            _flatten(point, f"sweep/{sweep['spec']}/{sweep['knob']}={point['value']}", out)
    _flatten(report.get("framework", {}), "framework", out)
    _flatten(report.get("shrink", {}), "shrink", out)
    for key, value in report.items():
        if key not in SKIPPED_SECTIONS and _number(value):
            out[key] = float(value)
    return out


def render(path_a: Path, path_b: Path) -> str:
    """Markdown: where each report comes from, then figure, A, B and B / A."""
    a, b = load(path_a), load(path_b)
    fa, fb = figures(a), figures(b)
    shared = [key for key in fa if key in fb]
    rows = [[key, fa[key], fb[key], fb[key] / fa[key] if fa[key] else None] for key in shared]
    only = sorted(set(fa) ^ set(fb))
    header = "\n".join(
        [
            "# Bench comparison: B / A",
            "",
            f"- A: `{path_a}`, {a['created_utc']} on {a['machine']['hostname']} ({a['versions'].get('umi-dst-commit', '?')})",
            f"- B: `{path_b}`, {b['created_utc']} on {b['machine']['hostname']} ({b['versions'].get('umi-dst-commit', '?')})",
            _version_changes(a["versions"], b["versions"]),
            "",
            "Ratios above 1 mean B is larger: better for `per_s` and recall, worse for `_ms`, seconds and MiB.",
        ]
    )
    footer = f"\n\n{len(only)} figures are in only one of the two reports." if only else ""
    return header + "\n\n" + table(["figure", "A", "B", "B / A"], rows) + footer


def _flatten(tree: object, prefix: str, out: dict[str, float]) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in SKIPPED_LEAVES or key in ("versions", "error", "spec", "index"):
                continue
            _flatten(value, f"{prefix}/{key}", out)
    elif _number(tree):
        out[prefix] = float(tree)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _version_changes(a: dict, b: dict) -> str:
    changed = [
        f"{name} {a.get(name, '-')} -> {b.get(name, '-')}"
        for name in sorted(set(a) | set(b))
        if a.get(name) != b.get(name)
    ]
    return "- Version changes: " + (", ".join(changed) if changed else "none")
