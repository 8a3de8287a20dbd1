"""The bench's charts in a campaign's page, where a bench ran.

``umi-dst bench`` writes ``bench-<time>-<host>.json`` into a report directory; a campaign
whose report goes to the same directory, on the same host, over at least one backend that
bench measured, shows the newest such bench's charts (drawn again from its JSON as inline
SVG, so the page stays one offline file) and links its Markdown report. A bench file that
cannot be read is passed over: it is not the campaign's to judge.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from umi_dst.html import page

PATTERN = "bench-*.json"


def newest_bench(report_dir: Path, host: str | None, backends: Sequence[str]) -> tuple[Path, dict] | None:
    """The newest bench report in ``report_dir`` made on ``host`` over any of ``backends``."""
    from umi_dst.bench.compare import UnreadableReport, load

    found = []
    for path in sorted(Path(report_dir).glob(PATTERN)):
        try:
            bench = load(path)
            made_on = bench["machine"]["hostname"]
            measured = set(bench["config"]["backends"])
            created = str(bench["created_utc"])
        except (UnreadableReport, KeyError, TypeError):
            continue
        if made_on == host and measured & set(backends):
            found.append((created, path.name, path, bench))
    if not found:
        return None
    *_, path, bench = max(found, key=lambda item: item[:2])
    return path, bench


def section(path: Path, bench: dict, report_dir: Path) -> str:
    """The bench's heading, its provenance, a link to its Markdown and its charts."""
    from umi_dst.bench.charts import figures
    from umi_dst.html.charts import svg

    drawn = [f'<div data-chart="{page.escape(name)}">{svg(figure)}</div>' for name, figure in figures(bench)]
    markdown = Path(path).with_suffix(".md")
    link = ""
    if markdown.exists():
        target = Path(os.path.relpath(markdown.resolve(), Path(report_dir).resolve())).as_posix()
        link = f' (<a class="bench-report" href="{page.escape(target)}">its report</a>)'
    measured = ", ".join(bench["config"]["backends"])
    return (
        f'<section class="bench"><h2>Bench</h2><p class="note">from <code>{page.escape(Path(path).name)}</code>{link},'
        f" made {page.escape(bench['created_utc'])} on this host over {page.escape(measured)}</p>"
        f'<div class="charts">{"".join(drawn)}</div></section>'
    )
