"""Parallel seed files: a failing concurrent program, kept as data for replay.

A parallel seed keeps the sequential prefix, each client's list of steps, how the clients ran
(``threads`` or ``processes``), what it ``expect``s on which backends (as sequential seeds do),
the failure (the calls that could not be ordered), the history of the failing run as recorded
(``history``: each call's moments and answer, so that its verdict is judged again the same way
on any machine, whatever a new run's interleaving) and the versions involved. It is written by
``seeds.write`` into the same ``seeds/<backend>/`` tree, under its own format name; the pytest
plugin and ``umi-dst replay`` recognise it and run the program concurrently several times (a
race need not come back on every run).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umi_dst import strict_json
from umi_dst.operations import Step
from umi_dst.seedfiles import history_codec, seed_bounds, seeds
from umi_dst.seedfiles.codec import DecodeError, decode_step, encode_step

FORMAT = "umi-dst-parallel-seed"
FORMAT_VERSION = 1
CLIENT_KINDS = ("threads", "processes")


@dataclass
class ParallelSeed:
    backend: str
    dim: int
    clients_as: str
    prefix: list[Step]
    clients: list[list[Step]]
    failure: dict[str, Any]
    versions: dict[str, str]
    description: str = ""
    expect: dict[str, str] = field(default_factory=dict)
    """Backend spec -> "pass" or "fail", as for sequential seeds; by default it must pass on its own."""
    history: history_codec.Recorded | None = None
    """The failing run's history, on ``backend``, as recorded."""

    def expectations(self) -> dict[str, str]:
        return self.expect or {self.backend: "pass"}

    def digest(self) -> str:
        steps = [[encode_step(s) for s in self.prefix], [[encode_step(s) for s in c] for c in self.clients]]
        canonical = strict_json.canonical([self.backend, self.dim, self.clients_as, steps])
        return "parallel-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "description": self.description,
            "backend": self.backend,
            "dim": self.dim,
            **({"expect": self.expect} if self.expect else {}),
            "clients_as": self.clients_as,
            "failure": self.failure,
            "prefix": [encode_step(step) for step in self.prefix],
            "clients": [[encode_step(step) for step in steps] for steps in self.clients],
            **({"history": history_codec.encode(self.history, self.dim)} if self.history is not None else {}),
            "versions": self.versions,
        }


def is_parallel_seed(path: Path) -> bool:
    return seeds.declares_format(path, FORMAT)


def load(path: Path) -> ParallelSeed:
    return seeds.read(path, _parse)


def _parse(data: object) -> ParallelSeed:
    data = seeds.check_header(data, FORMAT, FORMAT_VERSION)
    clients_as = seeds.field(data, "clients_as", str)
    if clients_as not in CLIENT_KINDS:
        raise DecodeError("clients_as", f"expected one of {CLIENT_KINDS}, got {clients_as!r}")
    backend = seeds.field(data, "backend", str)
    dim = seed_bounds.check_dim(seeds.field(data, "dim", int))
    raw_clients = seeds.field(data, "clients", list)
    if not 1 <= len(raw_clients) <= seed_bounds.MAX_CLIENTS:
        raise DecodeError("clients", f"must hold 1 to {seed_bounds.MAX_CLIENTS} clients, got {len(raw_clients)}")
    for c, steps in enumerate(raw_clients):
        if not isinstance(steps, list):
            raise DecodeError(f"clients[{c}]", f"expected a list of steps, got {type(steps).__name__}")
        seed_bounds.check_length(steps, f"clients[{c}]", seed_bounds.MAX_CLIENT_STEPS)
    raw_prefix = seed_bounds.check_length(seeds.field(data, "prefix", list), "prefix", seed_bounds.MAX_STEPS)
    prefix = [decode_step(step, f"prefix[{i}]") for i, step in enumerate(raw_prefix)]
    seed_bounds.check_steps(prefix, dim, "prefix")
    clients = [
        [decode_step(step, f"clients[{c}][{i}]") for i, step in enumerate(steps)] for c, steps in enumerate(raw_clients)
    ]
    for c, steps in enumerate(clients):
        seed_bounds.check_parallel_client(steps, dim, f"clients[{c}]")
    return ParallelSeed(
        backend=backend,
        dim=dim,
        clients_as=clients_as,
        prefix=prefix,
        clients=clients,
        failure=seeds.field(data, "failure", dict),
        versions=seeds.field(data, "versions", dict),
        description=seeds.description(data),
        expect=seeds.expect_field(data),
        history=history_codec.decode(data["history"], dim, len(clients)) if "history" in data else None,
    )
