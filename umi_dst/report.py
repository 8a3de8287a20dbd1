"""Campaign reports: a short Markdown summary and the same figures as JSON."""

from __future__ import annotations

import json
import platform
import socket
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from umi_dst.campaign import CampaignResult


def write_campaign_report(
    results: Sequence[CampaignResult], report_dir: Path, settings: dict[str, object]
) -> tuple[Path, Path]:
    """Write ``campaign-<time>-<host>.md`` and ``.json``; return both paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    stem = f"campaign-{now:%Y%m%d-%H%M%S}-{socket.gethostname()}"
    data = {
        "kind": "umi-dst-campaign",
        "finished": now.isoformat(timespec="seconds"),
        "machine": {"host": socket.gethostname(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": settings,
        "results": [{**asdict(r), "seed_path": str(r.seed_path) if r.seed_path else None} for r in results],
    }
    json_path = report_dir / f"{stem}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = report_dir / f"{stem}.md"
    md_path.write_text(_markdown(results, settings, now), encoding="utf-8")
    return md_path, json_path


def _markdown(results: Sequence[CampaignResult], settings: dict[str, object], now: datetime) -> str:
    lines = [
        f"# umi-dst campaign, {now:%Y-%m-%d %H:%M} UTC",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "",
        "| backend | dim | examples | seconds | verdict | seed | reproduces on replay |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "pass" if r.passed else "**FAIL**"
        seed = f"`{r.seed_path}`" if r.seed_path else ""
        reproduced = "" if r.reproduced is None else ("yes" if r.reproduced else "no (flaky)")
        lines.append(f"| {r.backend} | {r.dim} | {r.examples_run} | {r.seconds:.1f} | {verdict} | {seed} | {reproduced} |")
    failures = [r for r in results if not r.passed]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- **{r.backend}**: {r.failure} (replay: `umi-dst replay {r.seed_path}`)" for r in failures]
    return "\n".join(lines) + "\n"
