"""What an older lancedb release makes of a table the current one wrote (a downgrade).

Lance promises no downgrade (docs/upgrades.md, *Downgrades*), so this is a probe, not a test
case: the current release writes a ``lance-approx`` table (``ROWS`` seeded records, so the
index is built, then an overwrite, a delete, which leaves a deletion file, and one more
record), and the driver of each older release (``umi_dst.upgrade``) opens it and answers
``count``, a scan of every record and a search. Each answer is compared with the current
release's own, bit for bit for the records. Run ``python -m umi_dst.studies.lance_downgrade
[--from lancedb==0.36.0 ...]``; it writes ``reports/lance-downgrade.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from umi_dst.backends.lance.factory import build_factory
from umi_dst.backends.lance.old_release import start_driver
from umi_dst.backends.lance.store import IndexPlan
from umi_dst.studies import report_files
from umi_dst.upgrade import envs
from umi_dst.upgrade.client import DriverFailed

RELEASES = ("lancedb==0.36.0", "lancedb==0.30.2", "lancedb==0.25.3")
ROWS, DIM, LIMIT = 40, 8, 5


def probe(requirement: str, seed: int = 0) -> dict[str, str]:
    """Per answer (``count``, ``scan``, ``search``): ``same``, ``differs: ...`` or ``raised: ...``."""
    python = envs.ensure_env(envs.check_requirement(requirement))
    rng = np.random.default_rng(seed)
    query = rng.standard_normal(DIM).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="umi-lance-downgrade-") as scratch:
        factory = build_factory(Path(scratch), DIM, name="lance-approx", index=IndexPlan())
        current = factory.open()
        current.store_batch([(f"r{i}", rng.standard_normal(DIM).astype(np.float32)) for i in range(ROWS)])
        current.store("r1", rng.standard_normal(DIM).astype(np.float32))
        current.delete("r2")
        current.store("late", rng.standard_normal(DIM).astype(np.float32))
        expected = {
            "count": current.count(),
            "scan": _records(*current.scan()),
            "search": [(r.id, r.score) for r in current.search(query, LIMIT)],
        }
        current.close()
        driver = start_driver(python, factory.store)
        try:
            older = driver.connect(DIM)
            answers = {
                "count": older.count,
                "scan": lambda: _records(*older.scan()),
                "search": lambda: [(r.id, r.score) for r in older.search(query, LIMIT)],
            }
            return {name: _compare(answer, expected[name]) for name, answer in answers.items()}
        finally:
            driver.stop()
            factory.destroy()


def _records(ids: list[str], vectors: np.ndarray) -> dict[str, bytes]:
    return {id: vectors[row].tobytes() for row, id in enumerate(ids)}


def _compare(answer, expected) -> str:
    try:
        got = answer()
    except DriverFailed as error:
        return f"raised: {str(error)[:300]}"
    if got == expected:
        return "same"
    if isinstance(expected, list) and [id for id, _ in got] == [id for id, _ in expected]:
        worst = max(abs(a - b) for (_, a), (_, b) in zip(got, expected))
        return "same" if worst <= 1e-4 else f"differs: scores off by up to {worst:.2e}"
    return f"differs: {len(got) if isinstance(got, dict | list) else got} against {len(expected) if isinstance(expected, dict | list) else expected}"


def write_report(results: dict[str, dict[str, str]], current: str, report_dir: Path) -> Path:
    rows = [
        f"| lancedb {current} | {requirement.partition('==')[2]} | "
        + " | ".join(_cell(answers[name]) for name in ("count", "scan", "search"))
        + " |"
        for requirement, answers in results.items()
    ]
    text = "\n".join(
        [
            f"# Downgrades: a table lancedb {current} wrote, opened by older releases",
            "",
            f"Probe of `umi_dst/studies/lance_downgrade.py`: a `lance-approx` table of {ROWS} records",
            "(index built), an overwrite, a delete (a deletion file) and one more record, written by",
            "the current release; each older release's driver answers count, a scan of every record",
            f"(compared bit for bit) and a limit-{LIMIT} search. Lance promises no downgrade; see docs/upgrades.md.",
            "",
            "| written by | read by | count | every record | search |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    return report_files.write(report_dir / "lance-downgrade", {"current": current, "results": results}, text)


def _cell(text: str) -> str:
    """One Markdown table cell: an engine's multi-line message on one line."""
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str] | None = None) -> None:
    import lancedb

    parser = argparse.ArgumentParser(prog="python -m umi_dst.studies.lance_downgrade", description=__doc__)
    parser.add_argument(
        "--from", dest="older", action="append", help="an older release (default: 0.36.0, 0.30.2, 0.25.3)"
    )
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    releases = [envs.check_requirement(requirement) for requirement in args.older or RELEASES]
    results = {}
    for requirement in releases:
        results[requirement] = probe(requirement)
        print(requirement, results[requirement], flush=True)
    print(write_report(results, lancedb.__version__, args.report_dir))


if __name__ == "__main__":
    main()
