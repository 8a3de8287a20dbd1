"""Campaign reports: one row per distinct bug, coverage per backend, as JSON and Markdown.

A report keeps the raw result of every shard and of every existing seed replayed, and derives
everything else from them, so reports of CI jobs that each ran a slice of one campaign
(``--shard K/N``) merge into the report of the whole campaign (``umi-dst report merge``).
"""

from __future__ import annotations

import dataclasses
import platform
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from umi_dst import strict_json
from umi_dst.campaign.coverage import FAULT_OUTCOMES, SELECTIVITY_CLASSES, Coverage
from umi_dst.campaign.shard import SeedReplay, ShardResult
from umi_dst.html import campaign_page
from umi_dst.html import page as html_page

KIND = "umi-dst-campaign"
VERSION = 2

NEW, STILL_FAILING, FIXED, FLAKY = "new", "still failing", "fixed", "new, did not reproduce on replay"


class MalformedReport(ValueError):
    """A file that is not a campaign report this version can merge."""


@dataclass
class Bug:
    """One distinct bug: a backend and a failure signature."""

    backend: str
    signature: str
    seed: str | None
    message: str
    status: str
    hits: int = 0

    @property
    def failing(self) -> bool:
        return self.status != FIXED


@dataclass
class CampaignReport:
    settings: dict
    shards: list[ShardResult] = field(default_factory=list)
    replays: list[SeedReplay] = field(default_factory=list)
    wall_seconds: float = 0.0
    machine: dict = field(
        default_factory=lambda: {
            "host": socket.gethostname(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    )

    @property
    def backends(self) -> list[str]:
        return list(self.settings["backends"])

    def ordered_shards(self) -> list[ShardResult]:
        """Shards in plan order (backend, then index): the order that decides which seed is kept."""
        rank = {backend: i for i, backend in enumerate(self.backends)}
        return sorted(self.shards, key=lambda s: (rank.get(s.shard.backend, len(rank)), s.shard.backend, s.shard.index))

    def bugs(self) -> list[Bug]:
        """Existing seeds first (still failing or fixed), then each new signature's first finding."""
        rows: dict[tuple[str, str], Bug] = {}
        for r in self.replays:
            status = STILL_FAILING if r.reproduced else FIXED
            rows.setdefault((r.backend, r.signature), Bug(r.backend, r.signature, r.path, r.message, status))
        for result in self.ordered_shards():
            for f in result.findings:
                status = NEW if f.reproduced else FLAKY
                rows.setdefault(
                    (result.shard.backend, f.signature),
                    Bug(result.shard.backend, f.signature, f.seed_path, f.message, status),
                )
        for result in self.shards:
            for signature, hits in result.hits.items():
                if (result.shard.backend, signature) in rows:
                    rows[result.shard.backend, signature].hits += hits
        return list(rows.values())

    def coverage(self) -> dict[str, Coverage]:
        merged = {backend: Coverage() for backend in self.backends}
        for result in self.shards:
            merged.setdefault(result.shard.backend, Coverage()).merge(result.coverage)
        return merged

    def errors(self) -> list[str]:
        return [f"{r.shard.backend} shard {r.shard.index}: {r.error}" for r in self.ordered_shards() if r.error]

    def failed(self) -> bool:
        return any(bug.failing for bug in self.bugs())

    # -- files --------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "kind": KIND,
            "version": VERSION,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": self.machine,
            "settings": self.settings,
            "wall_seconds": round(self.wall_seconds, 1),
            "bugs": [dataclasses.asdict(bug) for bug in self.bugs()],
            "coverage": {backend: c.to_json() for backend, c in self.coverage().items()},
            "warnings": {backend: c.warnings() for backend, c in self.coverage().items()},
            "errors": self.errors(),
            "replays": [dataclasses.asdict(r) for r in self.replays],
            "shards": [r.to_json() for r in self.ordered_shards()],
        }

    @classmethod
    def from_json(cls, data: object, source: str = "report") -> CampaignReport:
        if not isinstance(data, dict) or data.get("kind") != KIND or data.get("version") != VERSION:
            raise MalformedReport(f"{source}: not a version {VERSION} umi-dst campaign report")
        try:
            return cls(
                settings=data["settings"],
                shards=[ShardResult.from_json(s) for s in data["shards"]],
                replays=[SeedReplay(**r) for r in data["replays"]],
                wall_seconds=data["wall_seconds"],
                machine=data["machine"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedReport(f"{source}: field {exc} is missing or malformed") from None

    def write(self, report_dir: Path) -> tuple[Path, Path]:
        """Write ``campaign-<time>-<host>.md`` and ``.json``, and the ``.html`` page beside
        them; return the first two."""
        report_dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(timezone.utc)
        stem = f"campaign-{now:%Y%m%d-%H%M%S}-{socket.gethostname()}"
        json_path, md_path = report_dir / f"{stem}.json", report_dir / f"{stem}.md"
        strict_json.write(json_path, self.to_json())
        md_path.write_text(
            markdown(self, now), encoding="utf-8", errors="backslashreplace"
        )  # a message may hold lone surrogates
        html_page.write(md_path.with_suffix(".html"), campaign_page.render(self, now, report_dir))
        return md_path, json_path


def load(path: Path) -> CampaignReport:
    try:
        data = strict_json.read(path)
    except (OSError, ValueError) as exc:
        raise MalformedReport(f"{path}: not a readable JSON report ({exc})") from None
    return CampaignReport.from_json(data, str(path))


def merge(reports: Sequence[CampaignReport]) -> CampaignReport:
    """One report of the slices of one campaign: every shard and replay once."""
    if not reports:
        raise ValueError("nothing to merge")
    campaigns = {(r.settings.get("seed"), r.settings.get("examples"), r.settings.get("steps")) for r in reports}
    if len(campaigns) > 1:
        raise MalformedReport(f"reports of different campaigns (seed, examples, steps): {sorted(map(str, campaigns))}")
    backends = list(dict.fromkeys(b for r in reports for b in r.backends))
    shards: dict[tuple, ShardResult] = {}
    for r in reports:
        for s in r.shards:
            shards.setdefault((s.shard.backend, s.shard.index), s)
    replays = {(r.backend, r.path): r for report in reports for r in report.replays}
    settings = {**reports[0].settings, "backends": backends, "shard": None, "merged_from": len(reports)}
    return CampaignReport(settings, list(shards.values()), list(replays.values()), max(r.wall_seconds for r in reports))


# -- Markdown ------------------------------------------------------------------------------
def markdown(report: CampaignReport, now: datetime) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in report.settings.items() if k != "backends")
    bugs = report.bugs()
    lines = [f"# umi-dst campaign, {now:%Y-%m-%d %H:%M} UTC", "", f"Settings: {settings}", ""]
    lines += [f"Wall time {report.wall_seconds:.1f} s on {report.machine.get('host')}.", ""]
    lines += ["| backend | cases | shards | CPU-side seconds | distinct bugs | verdict |", "|---|---|---|---|---|---|"]
    coverage = report.coverage()
    for backend in report.backends:
        shards = [s for s in report.shards if s.shard.backend == backend]
        failing = [b for b in bugs if b.backend == backend and b.failing]
        verdict = "**FAIL**" if failing else ("error" if any(s.error for s in shards) else "pass")
        seconds = sum(s.seconds for s in shards)
        lines.append(
            f"| {backend} | {coverage[backend].cases} | {len(shards)} | {seconds:.1f} | {len(failing)} | {verdict} |"
        )
    lines += ["", "## Bugs", ""]
    if bugs:
        lines += ["| backend | signature | seed | hits | status |", "|---|---|---|---|---|"]
        for b in bugs:
            seed = f"`{b.seed}`" if b.seed else ""
            lines.append(f"| {b.backend} | {_cell(b.signature)} | {seed} | {b.hits} | {b.status} |")
    else:
        lines.append("None found.")
    if report.errors():
        lines += ["", "## Errors", ""] + [f"- {e}" for e in report.errors()]
    lines += ["", "## Coverage", ""]
    for backend in report.backends:
        lines += _coverage_lines(backend, coverage[backend])
    return "\n".join(lines) + "\n"


def _coverage_lines(backend: str, c: Coverage) -> list[str]:
    lines = [f"### {backend}", ""]
    lines.append(f"- {c.cases} test cases, {c.steps} steps (longest case {c.longest_case} steps)")
    lines.append("- dimensions: " + (", ".join(f"{d} ({n})" for d, n in sorted(c.dims.items())) or "none"))
    lines.append("- operations: " + (", ".join(f"{k} {n}" for k, n in sorted(c.operations.items())) or "none"))
    lines.append(f"- reopens {c.operations.get('reopen', 0)}, abandons {c.operations.get('abandon', 0)}")
    lines.append(f"- largest store {c.largest_store} records, largest batch {c.largest_batch} items")
    lines.append(f"- searches cut off at an exact tie {c.tie_cutoffs}, at a near tie {c.near_tie_cutoffs}")
    lines.append(
        "- searches by query kind: " + (", ".join(f"{k} {n}" for k, n in sorted(c.search_kinds.items())) or "none")
    )
    lines.append(
        "- searches by limit class: " + (", ".join(f"{k} {n}" for k, n in sorted(c.search_limits.items())) or "none")
    )
    if c.filter_operators or c.filter_selectivity:
        lines.append("- filters by operator: " + ", ".join(f"{k} {n}" for k, n in sorted(c.filter_operators.items())))
        shares = [f"{k} {c.filter_selectivity[k]}" for k in SELECTIVITY_CLASSES if c.filter_selectivity[k]]
        lines.append("- filtered searches by share of the store selected: " + (", ".join(shares) or "none"))
        cuts = c.filter_cuts
        lines.append(
            f"- filtered searches with fewer matches than the limit {cuts['short']}, as many {cuts['at']}, "
            f"more {cuts['cut']}"
        )
    if c.filtered_recall:
        shares = [
            f"{k} {r.mean:.3f} (lowest case {r.lowest_case_mean:.3f}; {r.queries} queries in {r.cases} cases)"
            for k, r in ((k, c.filtered_recall[k]) for k in SELECTIVITY_CLASSES if k in c.filtered_recall)
        ]
        lines.append("- filtered recall battery, mean recall by share of the store selected: " + ", ".join(shares))
    if c.declared_maintenance:
        lines.append(
            "- maintenance run / cut off by a fault (under a fault but not cut off: the call completed, "
            "refused to start): "
            + ", ".join(
                f"{k} {c.maintenance[k]} / {c.maintenance_interrupted[k]} "
                f"({c.maintenance_completed[k]} completed, {c.maintenance_refused[k]} refused)"
                for k in sorted(c.declared_maintenance)
            )
        )
    if c.index_probed_searches:
        lines.append(f"- searches with rows outside the ANN index {c.unindexed_searches} of {c.index_probed_searches}")
    lines += [
        "",
        "| fault or nemesis | fired | write completed | failed, old state | failed, new state | failed, write changes nothing |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(c.declared_faults - {"reopen", "abandon"} | set(c.faults)):
        counts = " | ".join(str(c.faults.get(name, {}).get(outcome, 0)) for outcome in FAULT_OUTCOMES)
        lines.append(f"| {name} | {c.fired(name)} | {counts} |")
    lines += [""] + [f"- **warning**: {w}" for w in c.warnings()] + ([""] if c.warnings() else [])
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
