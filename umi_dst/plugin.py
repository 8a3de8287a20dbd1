"""pytest plugin: ``--umi-backend SPEC`` runs the contract machine; seed files replay as tests.

Registered through the ``pytest11`` entry point. It costs nothing until used: the harness is
imported inside the hooks that need it. Every setting is both a command-line option and an
ini key with the same name.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from umi_dst.profiles import register_profiles

BACKEND_OPTION = "umi_backend"
DIM_OPTION = "umi_dim"
SEEDS_OPTION = "umi_seeds_dir"

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
    group.addoption("--umi-dim", dest=DIM_OPTION, type=int, help="embedding dimension for --umi-backend (default 8)")
    group.addoption("--umi-seeds-dir", dest=SEEDS_OPTION, help="seed files replayed as regression tests (default seeds)")
    parser.addini(BACKEND_OPTION, "backends to run the contract machine against", type="args", default=[])
    parser.addini(DIM_OPTION, "embedding dimension for the contract machine", default="8")
    parser.addini(SEEDS_OPTION, "directory of seed files replayed as regression tests", default="seeds")


def _setting(config: pytest.Config, name: str):
    value = config.getoption(name)
    return value if value is not None else config.getini(name)


def pytest_report_header(config: pytest.Config) -> str:
    from hypothesis import settings

    backends = _setting(config, BACKEND_OPTION)
    header = f"umi-dst: hypothesis profile {settings.get_current_profile_name()!r}, seeds in {_setting(config, SEEDS_OPTION)}"
    return header + (f", contract machine on {', '.join(backends)}" if backends else "")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    dim = int(_setting(config, DIM_OPTION))
    for spec in _setting(config, BACKEND_OPTION):
        items.append(ContractItem.from_parent(session, name=f"umi-contract[{spec}]", spec=spec, dim=dim))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    from umi_dst.seeds import is_seed_file

    seeds_dir = (parent.config.rootpath / _setting(parent.config, SEEDS_OPTION)).resolve()
    if seeds_dir in file_path.resolve().parents and is_seed_file(file_path):
        return SeedFileCollector.from_parent(parent, path=file_path)
    return None


class ContractItem(pytest.Item):
    """The full contract machine against one backend, under the active Hypothesis profile."""

    def __init__(self, *, spec: str, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.dim = dim

    def runtest(self) -> None:
        from umi_dst.machine import run_contract_machine

        with tempfile.TemporaryDirectory(prefix="umi-contract-") as workdir:
            run_contract_machine(self.spec, dim=self.dim, workdir=Path(workdir))

    def reportinfo(self):
        return self.path, None, f"contract machine on {self.spec} (dim {self.dim})"


class SeedFileCollector(pytest.File):
    """One test per backend a seed file names in ``expect`` (its own backend by default)."""

    def collect(self):
        from umi_dst.seeds import MalformedSeed, load

        try:
            seed = load(self.path)
        except MalformedSeed as exc:
            raise self.CollectError(str(exc)) from None
        for spec, outcome in seed.expectations().items():
            yield SeedItem.from_parent(self, name=f"{outcome}s-on[{spec}]", seed=seed, spec=spec, outcome=outcome)


FAIL_ATTEMPTS = 3
"""Replays allowed for a seed expected to fail: a nemesis-timed failure (a kill landing mid-commit,
a competing writer winning a race) need not come back on every run, so it must come back within
these; a seed expected to pass must pass its one replay."""


class SeedItem(pytest.Item):
    def __init__(self, *, seed, spec: str, outcome: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.spec = spec
        self.outcome = outcome

    def runtest(self) -> None:
        from umi_dst.replay import replay

        for _ in range(FAIL_ATTEMPTS if self.outcome == "fail" else 1):
            result = replay(self.seed, self.spec)
            if result.reproduced:
                break
        if (self.outcome == "fail") != result.reproduced:
            what = self.seed.description or self.seed.failure.get("message", "")
            raise SeedOutcomeMismatch(f"seed expected to {self.outcome} on {self.spec}: {result.summary()}\n  seed: {what}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SeedOutcomeMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"seed {self.path.name} {self.outcome}s on {self.spec}"


class SeedOutcomeMismatch(AssertionError):
    """A seed replayed to a different verdict than it expects."""
