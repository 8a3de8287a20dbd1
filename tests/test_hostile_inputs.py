"""Hostile and broken inputs: seed files that would run code, malformed or oversized fields,
bad arguments and output directories. Each input is named in its test id; each gets one line
and the exit status of the table in ``umi-dst --help``, never a traceback."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umi_dst.campaign import leftovers
from umi_dst.cli import EXIT_ENVIRONMENT, EXIT_OK, EXIT_USAGE, main
from umi_dst.operations import Count, Delete, Get, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.redact import mask_secrets
from umi_dst.seedfiles import parallel_seeds, seed_bounds, seeds

DIM = 4
REPO = Path(__file__).resolve().parents[1]


def valid_seed() -> dict:
    steps = [
        Step(Store("a", Random(1))),
        Step(StoreBatch((("b", Random(2)),)), "error_after"),
        Step(Search(Random(3), 2)),
        Step(Delete("a")),
        Step(Count()),
    ]
    seed = seeds.SeedFile(backend="sim", dim=DIM, steps=steps, failure={"step": 0}, versions={"python": "3"})
    return seed.to_json()


def valid_parallel_seed() -> dict:
    seed = parallel_seeds.ParallelSeed(
        backend="sim", dim=DIM, clients_as="threads", prefix=[Step(Store("a", Random(1)))],
        clients=[[Step(Delete("a"))], [Step(Get("a"))]], failure={}, versions={},
    )  # fmt: skip
    return seed.to_json()


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def replay_cli(*args: str) -> int:
    return main(["replay", *args])


def assert_one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# -- a seed file cannot make replay import or call code ---------------------------------------
PLANTED = """
from pathlib import Path
Path({marker!r}).write_text("imported")
from umi_dst.backends.sim import factory
"""


def test_a_seed_naming_a_planted_module_is_refused_without_importing_it(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "imported"
    (tmp_path / "planted_umi_module.py").write_text(PLANTED.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))  # as the current directory is under ``python -m``
    monkeypatch.chdir(tmp_path)
    data = valid_seed()
    data["backend"] = "planted_umi_module:factory"
    path = write_json(tmp_path / "seed.json", data)

    assert replay_cli(str(path)) == EXIT_USAGE
    assert_one_line_error(capsys, "planted_umi_module:factory", "not a registered backend", "--allow-seed-backend")
    assert not marker.exists() and "planted_umi_module" not in sys.modules

    assert replay_cli(str(path), "--backend", "sim", "--quiet") == EXIT_OK, "a registered name on the command line"
    assert not marker.exists()

    assert replay_cli(str(path), "--allow-seed-backend", "--quiet") == EXIT_OK, "the person running it allowed it"
    assert marker.exists()
    sys.modules.pop("planted_umi_module", None)


# -- every field bounded at load, named in the error --------------------------------------------
def _set(path: str, value: object):
    """A mutation putting ``value`` at a dotted/indexed path of the seed's JSON."""

    def mutate(data: dict) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


MALFORMED_SEEDS = {
    "dim-zero": (_set("dim", 0), "dim"),
    "dim-3000": (_set("dim", 3000), "dim"),
    "limit-negative": (_set("steps[2].limit", -1), "steps[2].limit"),
    "limit-10001": (_set("steps[2].limit", 10_001), "steps[2].limit"),
    "fault-unknown-name-syntax": (_set("steps[1].fault", "rm -rf /"), "steps[1].fault"),
    "fault-on-a-read": (_set("steps[4].fault", "error_before"), "steps[4].fault"),
    "recipe-seed-negative": (_set("steps[0].embedding.seed", -1), "steps[0].embedding.seed"),
    "recipe-seed-2**64": (_set("steps[0].embedding.seed", 2**64), "steps[0].embedding.seed"),
    "bulk-of-10**9": (_set("steps[1].bulk", {"seed": 1, "count": 10**9, "distinct": 5}), "steps[1].bulk.count"),
    "bulk-distinct-zero": (_set("steps[1].bulk", {"seed": 1, "count": 5, "distinct": 0}), "steps[1].bulk.distinct"),
    "scaled-exponent-1000": (
        _set("steps[0].embedding", {"kind": "scaled", "of": "a", "exponent": 1000}),
        "steps[0].embedding.exponent",
    ),
    "perturbed-epsilon-1e300": (
        _set("steps[0].embedding", {"kind": "perturbed", "of": "a", "seed": 1, "epsilon": 1e300}),
        "steps[0].embedding.epsilon",
    ),
    "explicit-all-zero": (
        _set("steps[0].embedding", {"kind": "explicit", "values": [0.0]}),
        "steps[0].embedding.values",
    ),
    "explicit-float32-overflow": (
        _set("steps[0].embedding", {"kind": "explicit", "values": [1e39]}),
        "steps[0].embedding.values",
    ),
    "explicit-empty": (_set("steps[0].embedding", {"kind": "explicit", "values": []}), "steps[0].embedding.values"),
    "one-hot-zero": (
        _set("steps[0].embedding", {"kind": "one_hot", "axis": 0, "value": 0.0}),
        "steps[0].embedding.value",
    ),
    "one-hot-axis-2**70": (_set("steps[0].embedding", {"kind": "one_hot", "axis": 2**70}), "steps[0].embedding.axis"),
    "step-kind-a-list": (_set("steps[0].kind", []), "steps[0].kind"),
    "recipe-kind-an-object": (_set("steps[0].embedding.kind", {}), "steps[0].embedding.kind"),
    "id-empty": (_set("steps[0].id", ""), "steps[0].id"),
    "id-257-chars": (_set("steps[0].id", "x" * 257), "steps[0].id"),
    "id-with-nul": (_set("steps[3].id", "a\x00b"), "steps[3].id"),
    "id-lone-surrogate": (_set("steps[3].id", "a\ud800"), "steps[3].id"),
    "invalid-unknown-call": (
        _set("steps[4]", {"kind": "invalid", "call": "drop_table", "defect": "id:empty"}),
        "steps[4].call",
    ),
    "invalid-unknown-defect": (
        _set("steps[4]", {"kind": "invalid", "call": "get", "defect": "id:huge"}),
        "steps[4].defect",
    ),
    "too-many-steps": (_set("steps", [{"kind": "count"}] * (seed_bounds.MAX_STEPS + 1)), "steps"),
    "version-99": (_set("version", 99), "version"),
    "crash-point-name-with-spaces": (_set("steps[1].at", {"point": "rm -rf /", "k": 0}), "steps[1].at.point"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_SEEDS))
def test_a_malformed_seed_field_is_refused_at_load_naming_it(name, tmp_path, capsys):
    mutate, field = MALFORMED_SEEDS[name]
    data = valid_seed()
    mutate(data)
    path = write_json(tmp_path / f"{name}.json", data)
    with pytest.raises(seeds.MalformedSeed) as raised:
        seeds.load(path)
    assert str(path) in str(raised.value) and f"field {field}" in str(raised.value)
    assert replay_cli(str(path)) == EXIT_USAGE
    assert_one_line_error(capsys, field)


MALFORMED_PARALLEL_SEEDS = {
    "no-clients": (_set("clients", []), "clients"),
    "17-clients": (_set("clients", [[{"kind": "count"}]] * 17), "clients"),
    "client-reopens": (_set("clients[0][0]", {"kind": "reopen"}), "clients[0][0].kind"),
    "client-nemesis-without-crash-point": (_set("clients[0][0].fault", "crash_server"), "clients[0][0].at"),
    "history-vector-of-wrong-dim": (
        _set(
            "history",
            {
                "atol": 1e-4,
                "exact": True,
                "calls": [{"client": 0, "invoked": 0, "completed": 1, "value": {"vector": [1.0]}}],
            },
        ),
        "history.calls[0].value",
    ),
    "client-limit-0": (
        _set("clients[1][0]", {"kind": "search", "query": {"kind": "random", "seed": 1}, "limit": 0}),
        "clients[1][0].limit",
    ),
    "clients-as-fibers": (_set("clients_as", "fibers"), "clients_as"),
    "prefix-dim-mismatch-explicit": (
        _set("prefix[0].embedding", {"kind": "explicit", "values": [0.0] * 3}),
        "prefix[0].embedding.values",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_PARALLEL_SEEDS))
def test_a_malformed_parallel_seed_is_refused_at_load_naming_the_field(name, tmp_path, capsys):
    mutate, field = MALFORMED_PARALLEL_SEEDS[name]
    data = valid_parallel_seed()
    mutate(data)
    path = write_json(tmp_path / f"{name}.json", data)
    with pytest.raises(seeds.MalformedSeed, match=f"field {_escaped(field)}"):
        parallel_seeds.load(path)
    assert replay_cli(str(path)) == EXIT_USAGE
    assert_one_line_error(capsys, field)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_a_sim_parallel_seed_with_client_processes_is_refused_with_the_reason(tmp_path, capsys):
    data = valid_parallel_seed()
    data["clients_as"] = "processes"
    path = write_json(tmp_path / "sim-processes.json", data)
    assert replay_cli(str(path)) == EXIT_USAGE
    assert_one_line_error(capsys, "clients_as", "one process's memory", "threads")


def test_a_fault_the_backend_does_not_offer_is_refused_before_any_step_runs(tmp_path, capsys):
    data = valid_seed()
    data["steps"][1]["fault"] = "crash_server"  # a postgres nemesis; the Sim has none
    path = write_json(tmp_path / "sim-crash.json", data)
    assert replay_cli(str(path)) == EXIT_USAGE
    err = assert_one_line_error(capsys, "steps[1].fault", "crash_server", "error_before")
    assert "step 0" not in capsys.readouterr().out and "diverged" not in err


# -- the file itself: size, nesting, special files, encodings -------------------------------------
def _deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.json"
    data = valid_seed()
    data["description"] = "x" * (seed_bounds.MAX_FILE_BYTES + 1)
    return write_json(path, data)


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "dir.json").mkdir()
    return tmp_path / "dir.json"


def _text(name: str, content: bytes):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


BROKEN_FILES = {
    "nesting-100000-deep": _deep,
    "larger-than-the-bound": _huge,
    "fifo": _fifo,
    "directory": _directory,
    "dev-zero": lambda tmp_path: Path("/dev/zero"),
    "missing": lambda tmp_path: tmp_path / "missing.json",
    "empty": _text("empty.json", b""),
    "truncated": _text("truncated.json", json.dumps(valid_seed()).encode()[:50]),
    "nan-literal": _text("nan.json", json.dumps(valid_seed()).replace('"dim": 4', '"dim": NaN').encode()),
    "int-of-5000-digits": _text(
        "bigint.json", json.dumps(valid_seed()).replace('"dim": 4', '"dim": ' + "9" * 5000).encode()
    ),
    "invalid-utf8": _text("latin1.json", b'{"format": "umi-dst-seed", "description": "\xe9"}'),
    "top-level-array": _text("array.json", b"[1, 2, 3]"),
    "top-level-string": _text("string.json", b'"umi-dst-seed"'),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_a_broken_file_is_one_malformed_seed_error(name, tmp_path, capsys):
    path = BROKEN_FILES[name](tmp_path)
    with pytest.raises(seeds.MalformedSeed, match=_escaped(str(path))):
        seeds.load(path)
    assert replay_cli(str(path)) == EXIT_USAGE
    assert_one_line_error(capsys, str(path))


# -- backend specs and arguments ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (".x:y", "absolute module path"),
        ("..:y", "absolute module path"),
        ("x", "unknown backend"),
        (":y", "unknown backend"),
        ("a b:c", "unknown backend"),
        ("os:path:join", "unknown backend"),
        ("json:nothing", "has no attribute"),
        ("json:__doc__", "is not callable"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 16 else None,
)
def test_a_bad_backend_spec_is_one_line_and_exit_2(spec, message, tmp_path, capsys):
    path = write_json(tmp_path / "seed.json", valid_seed())
    assert replay_cli(str(path), "--backend", spec) == EXIT_USAGE
    assert_one_line_error(capsys, message)


def test_a_module_that_raises_on_import_is_a_usage_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "raising_umi_module.py").write_text("raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_json(tmp_path / "seed.json", valid_seed())
    assert replay_cli(str(path), "--backend", "raising_umi_module:factory") == EXIT_USAGE
    assert_one_line_error(capsys, "RuntimeError: broken at import")


@pytest.mark.parametrize(
    "args", [("--dim", "3000"), ("--dim", "0"), ("--max-bulk", str(10**9)), ("--examples", "zero")], ids=" ".join
)
def test_a_bad_run_argument_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--backend", "sim", *args])
    assert exited.value.code == EXIT_USAGE and args[0] in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--report-dir", "--seeds-dir"])
@pytest.mark.parametrize("where", ["is-a-file", "under-a-file"])
def test_an_output_directory_that_cannot_be_written_stops_the_run_before_it_starts(option, where, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker if where == "is-a-file" else blocker / "sub"
    others = {"--report-dir": str(tmp_path / "reports"), "--seeds-dir": str(tmp_path / "seeds")}
    others[option] = str(target)
    args = [arg for pair in others.items() for arg in pair]
    assert main(["run", "--backend", "sim", "--examples", "1", "--steps", "1", *args]) == EXIT_USAGE
    assert_one_line_error(capsys, option, "not a directory")
    assert not (tmp_path / "reports").exists(), "nothing ran"


def test_help_shows_the_exit_code_table(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = capsys.readouterr().out
    for line in (
        "0  pass",
        "1  a contract violation",
        "2  bad usage or a malformed input file",
        "3  the environment cannot run",
    ):
        assert line in out
    assert "--allow-seed-backend" in out and "imports that module" in out


# -- a backend the environment cannot run is exit 3, with its password masked ---------------
@pytest.mark.parametrize("command", ["replay", "run"])
def test_an_unreachable_postgres_is_exit_3_with_the_password_masked(command, tmp_path):
    """In a process of its own, as a user runs it."""
    pytest.importorskip("psycopg")
    url = "postgresql://umi:hunter2@127.0.0.1:1/db?connect_timeout=5"
    env = {**os.environ, "UMI_DST_POSTGRES_URL": url, "PYTHONPATH": str(REPO)}
    if command == "replay":
        args = ["replay", str(write_json(tmp_path / "seed.json", valid_seed())), "--backend", "postgres"]
    else:
        args = [
            "run", "--backend", "postgres", "--examples", "2", "--steps", "2", "--seed", "1",
            "--seeds-dir", str(tmp_path / "seeds"), "--report-dir", str(tmp_path / "reports"),
        ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "umi_dst.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == EXIT_ENVIRONMENT, done.stderr
    assert "hunter2" not in done.stdout + done.stderr and "umi:***@" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / "seeds").exists(), "never reported as a FAIL"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        ("postgres://u:se@cret@h:5/db", "postgres://u:***@h:5/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("host=h password=secret user=u", "host=h password=*** user=u"),
        ("password='se cret' x", "password=*** x"),
    ],
    ids=["url", "url-with-at-in-password", "url-without-password", "conninfo", "conninfo-quoted"],
)
def test_connection_strings_are_masked(text, masked):
    assert mask_secrets(text) == masked


# -- a finding is never lost because a write failed -------------------------------------------
def test_a_seed_that_cannot_go_to_its_directory_goes_to_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    seed = seeds.SeedFile(backend="sim", dim=DIM, steps=[Step(Count())], failure={}, versions={})
    with pytest.warns(seeds.SeedWrittenElsewhere, match="saved as"):
        path = seeds.write(seed, blocker / "seeds")
    assert path.parent.parent == tmp_path / "tmp" / seeds.FALLBACK_DIR and seeds.load(path).steps == seed.steps


def test_a_seed_no_directory_can_take_is_carried_whole_by_the_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr("tempfile.tempdir", str(blocker))
    seed = seeds.SeedFile(backend="sim", dim=DIM, steps=[Step(Count())], failure={}, versions={})
    with pytest.raises(seeds.SeedNotSaved) as raised:
        seeds.write(seed, blocker / "seeds")
    text = str(raised.value).split("the seed file follows:\n", 1)[1]
    assert json.loads(text) == seed.to_json()


# -- scratch directories of dead runs --------------------------------------------------------
def test_scratch_directories_of_dead_owners_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"umi-campaign-{dead_pid}-abc"
    live = tmp_path / f"umi-campaign-{os.getpid()}-abc"
    unrelated = tmp_path / f"umi-dst-unsaved-seeds-{dead_pid}-x"
    for path in (stale, live, unrelated):
        (path / "store-0").mkdir(parents=True)
    assert stale in leftovers.sweep(tmp_path)
    assert not stale.exists() and live.exists() and unrelated.exists()
    with leftovers.scratch_directory("campaign", tmp_path) as scratch:
        assert scratch.name.startswith(f"umi-campaign-{os.getpid()}-")
    assert not scratch.exists()


# -- fuzzing the loaders and the CLI with Hypothesis --------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@st.composite
def mutated_seeds(draw, make=valid_seed) -> object:
    """A valid seed with one subtree replaced by any JSON value: close to valid, so deep fields get hit."""
    data = make()
    parent, key = None, None
    node = data
    while isinstance(node, (dict, list)) and node and (key is None or draw(st.booleans())):
        parent, key = node, draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        node = parent[key]
    if parent is None:
        return draw(json_values)
    parent[key] = draw(json_values)
    return data


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_or_malformed(load, path: Path) -> None:
    """The one documented outcome: a valid seed, or ``MalformedSeed``; in bounded memory."""
    tracemalloc.start()
    try:
        load(path)
    except seeds.MalformedSeed:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"loading took {peak / 2**20:.0f} MiB"


@FUZZ
@given(data=st.one_of(json_values, mutated_seeds(), mutated_seeds(valid_parallel_seed)))
def test_any_json_value_loads_as_a_seed_or_is_one_malformed_seed_error(data, tmp_path):
    path = write_json(tmp_path / "fuzz.json", data)
    load_or_malformed(seeds.load, path)
    load_or_malformed(parallel_seeds.load, path)


@FUZZ
@given(content=st.binary(max_size=300) | st.builds(lambda prefix, tail: prefix[:len(prefix) // 2] + tail,
       st.just(json.dumps(valid_seed()).encode()), st.binary(max_size=50)))  # fmt: skip
def test_any_bytes_load_as_a_seed_or_are_one_malformed_seed_error(content, tmp_path):
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    load_or_malformed(seeds.load, path)
    load_or_malformed(parallel_seeds.load, path)


@settings(FUZZ, max_examples=40)
@given(data=mutated_seeds())
def test_the_cli_answers_any_seed_with_a_table_exit_code_and_no_traceback(data, tmp_path_factory):
    path = write_json(tmp_path_factory.mktemp("fuzz") / "seed.json", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(["replay", str(path), "--backend", "sim", "--quiet"])
        except Exception as exc:  # pragma: no cover - the failure this test exists to show
            pytest.fail(f"replay raised {type(exc).__name__}: {exc}")
    assert code in (0, 1, 2)


def test_a_valid_seed_survives_the_loader_unchanged(tmp_path):
    data = valid_seed()
    assert seeds.load(write_json(tmp_path / "ok.json", copy.deepcopy(data))).to_json() == data
