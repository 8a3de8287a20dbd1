"""Backend specs: a registered short name or ``module:attribute`` (CONTRACT §6)."""

from __future__ import annotations

import importlib
from pathlib import Path

from umi_dst.contract import BackendFactory, FactoryBuilder

BUILTIN_BACKENDS: dict[str, str] = {
    "sim": "backends.sim:factory",
    "lance": "backends.lance:exact_factory",
    "lance-approx": "backends.lance:approximate_factory",
    "lance-upstream": "backends.lance_upstream:factory",
    "postgres": "backends.postgres:exact_factory",
    "postgres-approx": "backends.postgres:approximate_factory",
    "postgres-upstream": "backends.postgres_upstream:factory",
}
"""Every built-in backend; the upstream variants are case studies, not campaign defaults."""

CAMPAIGN_DEFAULTS = ("sim", "lance", "lance-approx", "postgres", "postgres-approx")


class UnknownBackend(LookupError):
    """A spec that names no registered backend and no importable ``module:attribute``."""


def resolve(spec: str) -> FactoryBuilder:
    """Turn a spec into a builder ``(workdir, dim) -> factory``.

    The attribute may be a factory class or any callable taking ``(workdir, dim)``.
    """
    target = BUILTIN_BACKENDS.get(spec, spec)
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        known = ", ".join(BUILTIN_BACKENDS)
        raise UnknownBackend(f"unknown backend {spec!r}: use one of {known} or module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownBackend(f"backend {spec!r}: cannot import {module_name!r} ({exc})") from None
    try:
        builder = getattr(module, attribute)
    except AttributeError:
        raise UnknownBackend(f"backend {spec!r}: module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(builder):
        raise UnknownBackend(f"backend {spec!r}: {target} is not callable")
    return builder


def build(spec: str, workdir: Path, dim: int) -> BackendFactory:
    """Build a factory for a fresh store of ``spec`` under ``workdir``."""
    return resolve(spec)(workdir, dim)


def available(spec: str) -> tuple[bool, str]:
    """Whether the spec's module imports here, with the reason when it does not."""
    try:
        resolve(spec)
    except UnknownBackend as exc:
        return False, str(exc)
    return True, "ok"
