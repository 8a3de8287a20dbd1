"""pytest plugin: ``--umi-backend SPEC`` runs the contract machine; seed files replay as tests.

Registered through the ``pytest11`` entry point. It costs nothing until used: the harness is
imported inside the hooks that need it. Every setting is both a command-line option and an
ini key with the same name.

A backend's contract machine becomes ``umi_shards`` items, one per shard of the profile's
budget (``umi_dst.campaign.shards``), so ``pytest -n auto`` spreads it over the workers and runs the
same cases whatever their number. A failing item writes its shrunk failure as a seed file and
reports it first (see ``umi_dst.pytest_plugin.contract_shard``). ``ContractTests`` subclasses collect the
same items for their own backend: the plugin finds their marker methods at collection
(see ``umi_dst.contract_tests``).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import pytest

from umi_dst.generation.profiles import register_profiles

BACKEND_OPTION = "umi_backend"
DIM_OPTION = "umi_dim"
SEEDS_OPTION = "umi_seeds_dir"
SEED_OUTPUT_OPTION = "umi_seed_output"
SHARDS_OPTION = "umi_shards"
BASE_SEED_OPTION = "umi_seed"
TIME_BUDGET_OPTION = "umi_time_budget"

_BASE_SEED = pytest.StashKey[int]()
_STARTED = pytest.StashKey[float]()

register_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("umi-dst", "umi-dst contract machine")
    group.addoption(
        "--umi-backend",
        action="append",
        dest=BACKEND_OPTION,
        metavar="SPEC",
        help="run the contract machine against this backend (registered name or module:attribute); repeatable",
    )
    group.addoption(
        "--umi-dim",
        dest=DIM_OPTION,
        help="embedding dimension for --umi-backend, within the contract's bounds (default 8)",
    )
    group.addoption(
        "--umi-seeds-dir", dest=SEEDS_OPTION, help="seed files replayed as regression tests (default seeds)"
    )
    group.addoption(
        "--umi-seed-output",
        dest=SEED_OUTPUT_OPTION,
        metavar="DIR",
        help="where failing contract items write their seed files (default: the seeds directory); upload it from CI",
    )
    group.addoption(
        "--umi-shards", dest=SHARDS_OPTION, type=int, metavar="N", help="contract items per backend (default 4)"
    )
    group.addoption(
        "--umi-seed",
        dest=BASE_SEED_OPTION,
        type=int,
        metavar="S",
        help="seed the shards derive their Hypothesis seeds from (default 0 under a derandomised profile, else random)",
    )
    group.addoption(
        "--umi-time-budget",
        dest=TIME_BUDGET_OPTION,
        type=float,
        metavar="SECONDS",
        help="keep running contract items with fresh seeds until this long after the first one started",
    )
    parser.addini(BACKEND_OPTION, "backends to run the contract machine against", type="args", default=[])
    parser.addini(DIM_OPTION, "embedding dimension for the contract machine", default="8")
    parser.addini(SEEDS_OPTION, "directory of seed files replayed as regression tests", default="seeds")
    parser.addini(
        SEED_OUTPUT_OPTION, "where failing contract items write seed files (default: umi_seeds_dir)", default=""
    )
    parser.addini(SHARDS_OPTION, "contract items per backend", default="4")
    parser.addini(BASE_SEED_OPTION, "seed of the shards' Hypothesis seeds", default="")
    parser.addini(
        TIME_BUDGET_OPTION,
        "seconds, from the first contract item, during which contract items keep searching",
        default="",
    )


def _setting(config: pytest.Config, name: str):
    value = config.getoption(name)
    return value if value is not None else config.getini(name)


def _number(
    config: pytest.Config, name: str, kind: type = int, minimum: float | None = None, maximum: float | None = None
):
    """A numeric setting, ``None`` when unset; a bad value is a usage error naming the setting."""
    text = _setting(config, name)
    if text in (None, ""):
        return None
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{name}: expected a {'whole ' if kind is int else ''}number, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise pytest.UsageError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise pytest.UsageError(f"{name}: must be at most {maximum}, got {value}")
    return value


def seeds_dir(config: pytest.Config) -> Path:
    return (config.rootpath / _setting(config, SEEDS_OPTION)).resolve()


def seed_output(config: pytest.Config) -> Path:
    """Where failing contract items write seeds: ``umi_seed_output``, else the seeds directory."""
    output = _setting(config, SEED_OUTPUT_OPTION)
    return (config.rootpath / output).resolve() if output else seeds_dir(config)


def base_seed(config: pytest.Config) -> int:
    """The run's base seed, chosen once on the controller and handed to every xdist worker."""
    if _BASE_SEED not in config.stash:
        from hypothesis import settings

        workerinput = getattr(config, "workerinput", None)
        chosen = _number(config, BASE_SEED_OPTION, int, 0)
        if workerinput is not None and BASE_SEED_OPTION in workerinput:
            seed = workerinput[BASE_SEED_OPTION]
        elif chosen is not None:
            seed = chosen
        else:
            seed = 0 if settings.default.derandomize else random.SystemRandom().getrandbits(32)
        config.stash[_BASE_SEED] = seed
    return config.stash[_BASE_SEED]


def deadline(config: pytest.Config) -> float | None:
    """``time.monotonic()`` value after which contract items start no new round: the budget
    counts from the first contract item this process runs (each xdist worker starts its own)."""
    budget = _number(config, TIME_BUDGET_OPTION, float, 0)
    if budget is None:
        return None
    return config.stash.setdefault(_STARTED, time.monotonic()) + budget


def pytest_configure(config: pytest.Config) -> None:
    """Check the numeric settings up front, so a bad one stops the run with one line."""
    _number(config, SHARDS_OPTION, int, 1)
    _number(config, BASE_SEED_OPTION, int, 0)
    _number(config, TIME_BUDGET_OPTION, float, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: every worker derives its shards from the controller's base seed."""
    node.workerinput[BASE_SEED_OPTION] = base_seed(node.config)


def pytest_report_header(config: pytest.Config) -> str:
    from hypothesis import settings

    backends = _setting(config, BACKEND_OPTION)
    header = f"umi-dst: hypothesis profile {settings.get_current_profile_name()!r}, seeds in {_setting(config, SEEDS_OPTION)}"
    header += f", contract seed {base_seed(config)} (rerun with --umi-seed {base_seed(config)})"
    return header + (f", contract machine on {', '.join(backends)}" if backends else "")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from umi_dst.contract import MAX_DIM, MIN_DIM

    dim = _number(config, DIM_OPTION, int, MIN_DIM, MAX_DIM)
    for spec in _setting(config, BACKEND_OPTION):
        items.extend(contract_items(session, spec, dim=dim))


def contract_items(
    parent: pytest.Collector, spec: str, *, dim: int, examples: int | None = None, shards: int | None = None
):
    """One ``ContractItem`` per shard of the profile's budget (or ``examples``) for ``spec``."""
    from hypothesis import settings

    from umi_dst.campaign import shards as sharding

    config = parent.config
    count = shards or _number(config, SHARDS_OPTION, int, 1)
    budget = examples or settings.default.max_examples
    for shard in sharding.plan([spec], examples=budget, shards_per_backend=count, seed=base_seed(config)):
        name = f"umi-contract[{spec}-shard-{shard.index + 1}-of-{count}]"
        yield ContractItem.from_parent(parent, name=name, shard=shard, dim=dim)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):
    """The contract shards and seeds of a ``ContractTests`` subclass, in place of its markers."""
    if not isinstance(collector, pytest.Class):
        return None
    return _marker_items(collector, name)


def _marker_items(collector: pytest.Collector, name: str) -> list[pytest.Item] | None:
    """The items a ``ContractTests`` subclass's marker method stands for (``None`` otherwise)."""
    from umi_dst import registry
    from umi_dst.contract_tests import MACHINE_MARKER, SEEDS_MARKER, ContractTests

    if name not in (MACHINE_MARKER, SEEDS_MARKER) or not isinstance(collector, pytest.Class):
        return None
    cls = collector.obj
    if not (isinstance(cls, type) and issubclass(cls, ContractTests)):
        return None
    try:
        spec = cls.backend_spec()
    except (TypeError, registry.UnknownBackend) as exc:
        raise collector.CollectError(str(exc)) from None
    if name == MACHINE_MARKER:
        return list(contract_items(collector, spec, dim=cls.dim, examples=cls.examples, shards=cls.shards))
    if not cls.committed_seeds:
        return []
    return [
        item
        for path in committed_seed_files(collector.config)
        for item in seed_items(collector, path, only=spec, label=f"seed[{path.name}]-")
    ]


def committed_seed_files(config: pytest.Config) -> list[Path]:
    """Every seed file (sequential or parallel) under the seeds directory, in a stable order."""
    from umi_dst.seedfiles import parallel_seeds, seeds

    directory = seeds_dir(config)
    return [
        path
        for path in sorted(directory.rglob("*.json"))
        if seeds.is_seed_file(path) or parallel_seeds.is_parallel_seed(path)
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    from umi_dst.seedfiles.parallel_seeds import is_parallel_seed
    from umi_dst.seedfiles.seeds import is_seed_file

    if seeds_dir(parent.config) in file_path.resolve().parents and (
        is_seed_file(file_path) or is_parallel_seed(file_path)
    ):
        return SeedFileCollector.from_parent(parent, path=file_path)
    return None


class ContractItem(pytest.Item):
    """One shard of the contract machine against one backend, under the active Hypothesis profile."""

    def __init__(self, *, shard, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.dim = dim

    def runtest(self) -> None:
        from hypothesis import settings

        from umi_dst.pytest_plugin.contract_shard import run_shard

        with tempfile.TemporaryDirectory(prefix="umi-contract-") as workdir:
            run_shard(
                self.shard,
                dim=self.dim,
                base_seed=base_seed(self.config),
                settings=settings.default,
                workdir=Path(workdir),
                seeds_out=seed_output(self.config),
                record_property=lambda name, value: self.user_properties.append((name, value)),
                deadline=deadline(self.config),
            )

    def repr_failure(self, excinfo):
        from umi_dst.pytest_plugin.contract_shard import ContractFailure

        if isinstance(excinfo.value, ContractFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        shard = self.shard
        return (
            self.path,
            None,
            f"contract machine on {shard.backend} (dim {self.dim}, shard {shard.index + 1}/{shard.count})",
        )


VERDICT_WORDS = {"pass": "passes", "fail": "fails"}


class SeedFileCollector(pytest.File):
    """One test per backend a seed file names in ``expect`` (its own backend by default)."""

    def collect(self):
        return seed_items(self, self.path)


def seed_items(parent: pytest.Collector, path: Path, *, only: str | None = None, label: str = ""):
    """The items checking a seed file (sequential or parallel) on each backend it names.

    ``only`` keeps the one backend a ``ContractTests`` class tests; ``label`` prefixes the
    item names there, where the parent is the class rather than the file.
    """
    from umi_dst.seedfiles import parallel_seeds
    from umi_dst.seedfiles.seeds import MalformedSeed, load

    parallel = parallel_seeds.is_parallel_seed(path)
    try:
        seed = parallel_seeds.load(path) if parallel else load(path)
    except MalformedSeed as exc:
        raise parent.CollectError(str(exc)) from None
    item = ParallelSeedItem if parallel else SeedItem
    for spec, outcome in seed.expectations().items():
        if only is None or spec == only:
            name = f"{label}{VERDICT_WORDS[outcome]}-on[{spec}]"
            yield item.from_parent(parent, name=name, path=path, seed=seed, spec=spec, outcome=outcome)


FAIL_ATTEMPTS = 3
"""Replays allowed for a seed expected to fail whose faults are timed (a kill landing mid-commit,
a competing writer winning a race): such a failure need not come back on every run, so it must
come back within these. A seed whose faults are all placed exactly (injected faults, crash
points) and a seed expected to pass get one replay."""


class SeedItem(pytest.Item):
    def __init__(self, *, seed, spec: str, outcome: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.spec = spec
        self.outcome = outcome

    def runtest(self) -> None:
        from umi_dst.checking.harness import timing_dependent
        from umi_dst.seedfiles.replay import replay, reproduces_recorded_failure

        timed = self.outcome == "fail" and timing_dependent(self.seed.steps)
        for _ in range(FAIL_ATTEMPTS if timed else 1):
            result = replay(self.seed, self.spec)
            if reproduces_recorded_failure(self.seed, result):
                break
        if result.reproduced if self.outcome == "pass" else not reproduces_recorded_failure(self.seed, result):
            what = self.seed.description or self.seed.failure.get("message", "")
            raise SeedOutcomeMismatch(
                f"seed expected to {self.outcome} on {self.spec}: {result.summary()}\n  seed: {what}"
            )

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SeedOutcomeMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"seed {self.path.name} {VERDICT_WORDS[self.outcome]} on {self.spec}"


class SeedOutcomeMismatch(AssertionError):
    """A seed replayed to a different verdict than it expects."""


PARALLEL_RUNS = 5
"""Concurrent replays of a parallel seed: expected to fail, it must fail in at least one of
them (a race need not come back every time); expected to pass, it must pass all of them."""


class ParallelSeedItem(SeedItem):
    """A parallel seed, judged on ``PARALLEL_RUNS`` concurrent replays."""

    def runtest(self) -> None:
        from umi_dst.concurrency.parallel import replay_parallel

        result = replay_parallel(self.seed, self.spec, PARALLEL_RUNS)
        if (self.outcome == "fail") != result.reproduced:
            what = self.seed.description or self.seed.failure.get("message", "")
            raise SeedOutcomeMismatch(
                f"parallel seed expected to {self.outcome} on {self.spec}: {result.summary()}\n  seed: {what}"
            )

    def reportinfo(self):
        return (
            self.path,
            None,
            f"parallel seed {self.path.name} {VERDICT_WORDS[self.outcome]} on {self.spec} ({PARALLEL_RUNS} runs)",
        )
