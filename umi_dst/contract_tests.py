"""``ContractTests``: subclass it, set ``factory``, and pytest collects the whole contract suite.

    class TestMyStore(ContractTests):
        factory = MyFactory          # or a spec: "mystore.umi:MyFactory", "lance"
        dim = 8                      # optional

The class collects the contract machine of that backend, cut into shards (``umi_shards`` items,
or the class's ``shards``), and every committed seed file in the seeds directory that names the
backend, exactly as ``pytest --umi-backend`` and the seed collector would; so a backend's own
repository needs no command-line option. Its own extra tests get the ``backend_factory`` (a
fresh store, destroyed afterwards) and ``backend_dim`` fixtures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from umi_dst import registry
from umi_dst.contract import BackendFactory, FactoryBuilder

MACHINE_MARKER = "test_contract_machine"
SEEDS_MARKER = "test_committed_seeds"


class ContractTests:
    """Base class of a backend's contract suite; see the module docstring."""

    factory: ClassVar[str | FactoryBuilder | None] = None
    """A backend spec, or a module-level factory class or builder ``(workdir, dim) -> factory``."""
    dim: ClassVar[int] = 8
    examples: ClassVar[int | None] = None
    """Test cases of the contract machine (default: the Hypothesis profile's ``max_examples``)."""
    shards: ClassVar[int | None] = None
    """Contract items the cases are cut into (default: the ``umi_shards`` option)."""
    committed_seeds: ClassVar[bool] = True
    """Collect the seeds dir's seed files for this backend; off where the seeds dir is collected anyway."""

    @classmethod
    def backend_spec(cls) -> str:
        """The spec seed files name this backend by, so ``umi-dst replay`` can rebuild it."""
        return spec_of(cls.factory, cls.__name__)

    @pytest.fixture
    def backend_dim(self) -> int:
        return self.dim

    @pytest.fixture
    def backend_factory(self, backend_dim: int, tmp_path: Path) -> Iterator[BackendFactory]:
        """A factory for a fresh store of this backend, destroyed after the test."""
        factory = registry.build(self.backend_spec(), tmp_path, backend_dim)
        try:
            yield factory
        finally:
            factory.destroy()

    def test_contract_machine(self) -> None:
        """Replaced at collection by the contract shards; runs only without the umi_dst plugin."""
        pytest.fail(
            "ContractTests needs the umi_dst pytest plugin (installed with umi-dst; was it disabled with -p no:umi_dst?)"
        )

    def test_committed_seeds(self) -> None:
        """Replaced at collection by one item per committed seed and expectation."""
        pytest.fail(
            "ContractTests needs the umi_dst pytest plugin (installed with umi-dst; was it disabled with -p no:umi_dst?)"
        )


def spec_of(factory: str | FactoryBuilder | None, owner: str) -> str:
    """``factory`` as a spec string; a callable must be reachable as ``module:attribute``."""
    if isinstance(factory, str):
        registry.resolve(factory)
        return factory
    if factory is None or not callable(factory):
        raise TypeError(f"{owner}.factory must be a backend spec or a factory class or builder, got {factory!r}")
    module = sys.modules.get(getattr(factory, "__module__", ""))
    names = [name for name, value in vars(module).items() if value is factory] if module else []
    if not names or module.__name__ == "__main__":
        raise TypeError(
            f"{owner}.factory {factory!r} is not an attribute of an importable module, which is not "
            "allowed: seed files name their backend as module:attribute so that umi-dst replay can "
            "rebuild it; define the factory at module level in an importable module, or give its spec as a string"
        )
    spec = f"{module.__name__}:{getattr(factory, '__name__', '') if getattr(factory, '__name__', '') in names else names[0]}"
    return spec
