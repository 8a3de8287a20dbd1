"""The campaign report as one HTML page, beside its Markdown and JSON.

Per backend the verdict; each bug with its status, its seed and a link to the seed's own page
(written beside the seed when it was saved); coverage as charts (operations, faults and
nemeses by how each write resolved, dimensions, store and batch sizes with searches cut at
ties), drawn by ``charts``. Everything derives from the ``CampaignReport``, as the Markdown does,
except the bench's charts where a bench ran on the same host into the same directory
(``bench_section``).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from umi_dst.campaign.coverage import FAULT_OUTCOMES, Coverage
from umi_dst.html import bench_section, charts, page
from umi_dst.html.seed_page import page_path

STYLE = """
.backends td.fail { color: var(--fail); font-weight: 700; } .backends td.pass { color: var(--ok); font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.charts > div { background: #fff; border: 1px solid var(--line); padding: 4px; }
.charts svg { max-width: 640px; height: auto; }
section.backend { margin: 18px 0; } .warning { color: var(--indet); }
"""


def render(report, now: datetime, report_dir: Path) -> str:
    """The page of ``report`` (a ``umi_dst.campaign.report.CampaignReport``), its links relative to ``report_dir``."""
    bugs, coverage = report.bugs(), report.coverage()
    settings = ", ".join(f"{k}={v}" for k, v in report.settings.items() if k != "backends")
    rows = []
    for backend in report.backends:
        shards = [s for s in report.shards if s.shard.backend == backend]
        failing = [b for b in bugs if b.backend == backend and b.failing]
        verdict = "FAIL" if failing else ("error" if any(s.error for s in shards) else "pass")
        rows.append(
            f"<tr><td>{page.escape(backend)}</td><td>{coverage[backend].cases}</td><td>{len(shards)}</td>"
            f'<td>{len(failing)}</td><td class="{verdict.lower()}">{verdict}</td></tr>'
        )
    body = [
        f'<div class="verdict {"fail" if report.failed() else "pass"}" id="verdict">'
        f"{'FAIL: a contract violation was found' if report.failed() else 'PASS: no contract violation found'}"
        f" ({len(bugs)} distinct bugs listed)</div>",
        f'<p class="note">settings: {page.escape(settings)}; wall time {report.wall_seconds:.1f} s on {page.escape(report.machine.get("host"))}</p>',
        '<table class="backends"><tr><th>backend</th><th>cases</th><th>shards</th><th>failing bugs</th><th>verdict</th></tr>',
        *rows,
        "</table><h2>Bugs</h2>",
        _bugs(bugs, report_dir),
    ]
    if report.errors():
        body += ["<h2>Errors</h2><ul>", *(f"<li>{page.escape(e)}</li>" for e in report.errors()), "</ul>"]
    body.append("<h2>Coverage</h2>")
    body += [_coverage(backend, coverage[backend]) for backend in report.backends]
    bench = bench_section.newest_bench(report_dir, report.machine.get("host"), report.backends)
    if bench is not None:
        body.append(bench_section.section(*bench, report_dir))
    title = f"umi-dst campaign, {now:%Y-%m-%d %H:%M} UTC"
    return page.document(title, ", ".join(report.backends), {}, "".join(body), STYLE, "")


def _bugs(bugs, report_dir: Path) -> str:
    if not bugs:
        return "<p>None found.</p>"
    rows = []
    for bug in bugs:
        seed = link = ""
        if bug.seed:
            seed = f"<code>{page.escape(bug.seed)}</code>"
            seed_page = page_path(Path(bug.seed))
            if seed_page.exists():
                target = os.path.relpath(seed_page.resolve(), Path(report_dir).resolve())
                link = f'<a class="seed-page" href="{page.escape(Path(target).as_posix())}">timeline</a>'
        rows.append(
            f"<tr><td>{page.escape(bug.backend)}</td><td>{page.escape(bug.signature)}</td><td>{seed}</td>"
            f"<td>{link}</td><td>{bug.hits}</td><td>{page.escape(bug.status)}</td></tr>"
        )
    return (
        '<table class="bugs"><tr><th>backend</th><th>signature</th><th>seed</th><th>page</th><th>hits</th><th>status</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _coverage(backend: str, c: Coverage) -> str:
    faults = {
        name: c.faults.get(name, {}) for name in sorted(c.declared_faults - {"reopen", "abandon"} | set(c.faults))
    }
    sizes = {
        "largest store (records)": c.largest_store,
        "largest batch (items)": c.largest_batch,
        "searches cut at an exact tie": c.tie_cutoffs,
        "searches cut at a near tie": c.near_tie_cutoffs,
    }
    figures = [
        charts.bars("operations", dict(c.operations)),
        charts.stacked("faults and nemeses: how each write resolved", faults, FAULT_OUTCOMES),
        charts.bars("test cases per dimension", {f"dim {d}": n for d, n in sorted(c.dims.items())}, "test cases"),
        charts.bars("store sizes and ties", sizes, ""),
    ]
    warnings = "".join(f'<li class="warning">{page.escape(w)}</li>' for w in c.warnings())
    return (
        f'<section class="backend"><h3>{page.escape(backend)}</h3>'
        f"<p>{c.cases} test cases, {c.steps} steps (longest case {c.longest_case} steps)</p>"
        f"{f'<ul>{warnings}</ul>' if warnings else ''}"
        f'<div class="charts">{"".join(f"<div>{svg}</div>" for svg in figures)}</div></section>'
    )
