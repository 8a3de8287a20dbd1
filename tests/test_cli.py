"""The command line: exit codes, one-line errors, and a seed written by run that replay reproduces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from umi_dst.cli import main


def run_cli(*args: str) -> int:
    return main(list(args))


def test_run_finds_a_planted_bug_writes_seed_and_report(tmp_path, capsys):
    code = run_cli(
        "run", "--backend", "umi_dst.selftest.mutants:score_is_distance", "--examples", "30", "--steps", "10", "--dim", "8",
        "--seed", "3", "--workers", "1", "--seeds-dir", str(tmp_path / "seeds"), "--report-dir", str(tmp_path / "reports"),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "seed written:" in out
    seed_path = Path(out.split("seed written: ")[1].split()[0])
    assert seed_path.exists()
    report = json.loads(next((tmp_path / "reports").glob("campaign-*.json")).read_text())
    assert [bug["status"] for bug in report["bugs"]] == ["new"] and report["bugs"][0]["seed"] == str(seed_path)
    assert "FAIL" in next((tmp_path / "reports").glob("campaign-*.md")).read_text()

    assert run_cli("replay", str(seed_path)) == 2, "a seed's own module:attribute is not imported by default"
    assert "--allow-seed-backend" in capsys.readouterr().err
    assert run_cli("replay", str(seed_path), "--allow-seed-backend") == 1
    replay_out = capsys.readouterr().out
    assert "step 0:" in replay_out and "diverged" in replay_out and "FAIL on" in replay_out
    assert run_cli("replay", str(seed_path), "--backend", "sim", "--quiet") == 0
    assert "PASS on sim" in capsys.readouterr().out


def test_run_passes_on_the_sim(tmp_path, capsys):
    code = run_cli(
        "run", "--backend", "sim", "--examples", "5", "--steps", "5", "--seed", "1", "--workers", "1",
        "--seeds-dir", str(tmp_path / "seeds"), "--report-dir", str(tmp_path / "reports"),
    )  # fmt: skip
    assert code == 0 and "sim: pass" in capsys.readouterr().out
    assert not (tmp_path / "seeds").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--backend", "no-such-backend"), "unknown backend 'no-such-backend'"),
        (("run", "--backend", "no_such_module:x"), "cannot import 'no_such_module'"),
        (("run", "--backend", "umi_dst.backends.sim:nothing"), "has no attribute 'nothing'"),
        (("replay", "missing.json"), "missing.json: not a readable JSON seed file"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_wrong_arguments_exit_2_without_traceback(capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli("run", "--examples", "zero")
    assert exited.value.code == 2 and "invalid" in capsys.readouterr().err


def test_backends_lists_every_builtin(capsys):
    assert run_cli("backends") == 0
    out = capsys.readouterr().out
    for name in ("sim", "lance", "lance-upstream", "postgres", "postgres-approx"):
        assert name in out
