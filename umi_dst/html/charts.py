"""Charts for the pages as inline SVG, drawn by matplotlib.

matplotlib (already the bench's plotting library) writes SVG with no script and no external
reference, so a chart is part of the page's text and the page stays one offline file; an
interactive library would mean inlining megabytes of JavaScript in every report. Text stays
text in the SVG (``svg.fonttype: none``) so the page's search finds labels. Figures are closed
after drawing: a campaign report draws a few per backend.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

OUTCOME_COLOURS = ("#2e7d32", "#1565c0", "#ef6c00", "#9e9e9e")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def svg(figure) -> str:
    """The figure as inline SVG text (no date, stable ids), and closed."""
    buffer = io.StringIO()
    with _pyplot().rc_context({"svg.fonttype": "none", "svg.hashsalt": "umi-dst"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def bars(title: str, counts: Mapping[str, int], xlabel: str = "count") -> str:
    """A horizontal bar chart of ``counts`` (label -> number), largest at the top."""
    plt = _pyplot()
    items = sorted(counts.items(), key=lambda item: item[1]) or [("none", 0)]
    figure, axes = plt.subplots(figsize=(5.2, 0.3 * len(items) + 0.9))
    axes.barh([str(k) for k, _ in items], [v for _, v in items], color="#546e7a")
    for y, (_, value) in enumerate(items):
        axes.text(value, y, f" {value}", va="center", fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel, fontsize=8)
    axes.tick_params(labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return svg(figure)


def stacked(title: str, rows: Mapping[str, Mapping[str, int]], parts: Sequence[str]) -> str:
    """Horizontal bars, one per row, split into ``parts`` (a fault's outcomes)."""
    plt = _pyplot()
    names = sorted(rows) or ["none"]
    figure, axes = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.3))
    left = [0] * len(names)
    for part, colour in zip(parts, OUTCOME_COLOURS):
        values = [rows.get(name, {}).get(part, 0) for name in names]
        axes.barh(names, values, left=left, color=colour, label=part.replace("_", " "))
        left = [a + b for a, b in zip(left, values)]
    axes.set_title(title, fontsize=10)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, loc="lower right", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return svg(figure)
