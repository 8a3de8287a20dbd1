"""The checker benchmark writes its report (a smoke test at the smallest size, not a timing)."""

from __future__ import annotations

import json

from umi_dst.studies import linearizability as bench


def test_benchmark_writes_markdown_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "SIZES", (8,))
    monkeypatch.setattr(
        bench, "BACKENDS", {name: spec for name, spec in bench.BACKENDS.items() if spec.startswith("umi_dst.selftest.")}
    )
    bench.main(["--histories", "2", "--report-dir", str(tmp_path)])
    assert str(tmp_path / "linearizability-bench.md") in capsys.readouterr().out
    data = json.loads((tmp_path / "linearizability-bench.json").read_text())
    measured = data["measurements"]
    assert len(measured) == 2 * len(bench.BACKENDS)
    assert all(m["size"] == 8 and m["calls"] > 8 and m["decide_ms"] >= 0 for m in measured)
    correct = [m for m in measured if "correct" in m["backend"]]
    assert all(m["linearizable"] and m["explain_ms"] is None for m in correct)
    table = (tmp_path / "linearizability-bench.md").read_text()
    assert "| locked Sim (correct) | 8 |" in table and "| delete-then-insert upsert (bug) | 8 |" in table


def test_report_leaves_out_cells_that_were_not_measured(tmp_path):
    """A run over some backends or sizes writes the rows it has, not an error."""
    path = bench.write_report([], tmp_path, histories=2)
    assert "| backend | size |" in path.read_text()
    assert json.loads((tmp_path / "linearizability-bench.json").read_text())["measurements"] == []
