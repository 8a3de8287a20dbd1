"""The ``lance`` backend as it was before 7e58bca: the first write creates the table, with its rows.

Two first writes racing both create the table, the later as an Overwrite commit that drops
the rows the other had acknowledged (a lost write no reader saw until the read-back). The
committed seed ``seeds/lance/parallel-281db046322c.json`` records a run of this store, so its
page and its replay show the race the fix removed; its live replays on ``lance`` must pass.

Spec: ``umi_dst.selftest.lost_first_writes:factory``. ``python -m
umi_dst.selftest.lost_first_writes`` records the seed's run again (the first failing one of up
to ``ATTEMPTS``), keeping its program, so the file keeps its name.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from umi_dst import registry
from umi_dst.backends.lance.factory import LanceFactory, build_factory
from umi_dst.backends.lance.store import LanceVectorBackend, to_arrow
from umi_dst.checking.checks import ContractViolation
from umi_dst.concurrency.parallel import ParallelProgram, check_program
from umi_dst.contract import Embedding
from umi_dst.seedfiles import history_codec, parallel_seeds, seeds

SPEC = "umi_dst.selftest.lost_first_writes:factory"
SEED = Path(__file__).resolve().parents[2] / "seeds" / "lance" / "parallel-281db046322c.json"
ATTEMPTS = 20
DESCRIPTION = (
    "4 clients' first writes to a fresh Lance store. Until 7e58bca each first write created the table "
    "(an Overwrite commit), so racing creators silently lost each other's acknowledged writes. "
    "The recorded run is of that code ({spec}, lancedb {lancedb}); live replays on lance must pass"
)


class FirstWriteCreatesTable(LanceVectorBackend):
    """``LanceVectorBackend`` whose first write creates the table holding its rows."""

    def _upsert(self, items: list[tuple[str, Embedding]]) -> None:
        if self.table is None:
            rows = to_arrow(self.config, items)
            try:
                self._table = self.run(
                    self._db.create_table(self.config.table_name, data=rows, schema=self.config.schema())
                )
                return
            except (ValueError, OSError, RuntimeError):
                if self.table is None:
                    raise  # another writer created it first: merge into theirs
        super()._upsert(items)


def factory(workdir: Path, dim: int) -> LanceFactory:
    """A fresh store with no table made up front (the factory's ``create_table`` off)."""
    return build_factory(
        workdir, dim, name="lance-first-write-creates", backend_class=FirstWriteCreatesTable, create_table=False
    )


def record(path: Path = SEED) -> Path:
    """Run the seed's program on this store until it fails; write that run into the seed."""
    seed = parallel_seeds.load(path)
    program = ParallelProgram(tuple(seed.prefix), tuple(tuple(steps) for steps in seed.clients))
    for _ in range(ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="umi-lost-first-writes-") as scratch:
            store = registry.build(SPEC, Path(scratch), seed.dim)
            try:
                check_program(store, program, seed.clients_as)
            except ContractViolation as error:
                versions = store.versions()
                recorded = history_codec.recorded(error.history, store.score_atol, not store.approximate)
                failure = seeds.failure_record(error, None)
                break
            finally:
                store.destroy()
    else:
        raise RuntimeError(f"{SPEC} did not lose a first write in {ATTEMPTS} runs")
    description = DESCRIPTION.format(spec=SPEC, lancedb=versions["lancedb"])
    again = dataclasses.replace(
        seed, failure=failure, history=recorded, description=description, versions=seeds.software_versions(versions)
    )
    return seeds.write(again, path.parents[1])


if __name__ == "__main__":
    print(record())
