"""Backend specs: a registered short name or ``module:attribute`` (CONTRACT §6).

Resolving ``module:attribute`` imports the module, which runs its top-level code: only specs a
person typed (``--backend``, ``--umi-backend``) are resolved that way. A spec read from a seed
file goes through ``is_registered`` first (see ``replay.backend_for``).
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

from umi_dst.contract import BackendFactory, FactoryBuilder, check_declarations
from umi_dst.upgrade import spec as upgrade_spec

BUILTIN_BACKENDS: dict[str, str] = {
    "sim": "umi_dst.backends.sim:factory",
    "lance": "umi_dst.backends.lance.factory:exact_factory",
    "lance-approx": "umi_dst.backends.lance.factory:approximate_factory",
    "lance-upstream": "umi_dst.backends.lance.upstream:factory",
    "lance-postfilter": "umi_dst.backends.lance.filter_upstream:postfilter",
    "lance-spliced-filter": "umi_dst.backends.lance.filter_upstream:spliced_filter",
    "postgres": "umi_dst.backends.postgres.factory:exact_factory",
    "postgres-approx": "umi_dst.backends.postgres.factory:approximate_factory",
    "postgres-upstream": "umi_dst.backends.postgres.upstream:factory",
    "postgres-hnsw-where": "umi_dst.backends.postgres.filter_upstream:factory",
    "langchain-inmemory": "umi_dst.backends.langchain.inmemory:inmemory",
    "langchain-qdrant": "umi_dst.backends.langchain.qdrant:qdrant",
    "langchain-faiss": "umi_dst.backends.langchain.faiss:flat",
    "langchain-lancedb": "umi_dst.backends.langchain.lancedb:cosine",
    "langchain-chroma": "umi_dst.backends.langchain.chroma:chroma",
    "langchain-postgres": "umi_dst.backends.langchain.postgres:pgvector",
    "mem0-qdrant": "umi_dst.backends.mem0.qdrant:qdrant",
    "mem0-pgvector": "umi_dst.backends.mem0.pgvector:pgvector",
    "mem0-chroma": "umi_dst.backends.mem0.chroma:chroma",
}
"""Every built-in backend; the upstream variants are case studies, not campaign defaults, and
the ``langchain-*`` and ``mem0-*`` ones test an integration layer (docs/adapters.md)."""

CAMPAIGN_DEFAULTS = ("sim", "lance", "lance-approx", "postgres", "postgres-approx")


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnknownBackend(LookupError):
    """A spec that names no registered backend and no importable ``module:attribute``."""


class BackendUnavailable(RuntimeError):
    """The environment cannot run a backend: it cannot start, connect, authenticate, or lacks
    a dependency or an extension. Not a contract violation: exit status 3, never a FAIL."""


LEGACY_PACKAGE, PACKAGE = "backends.", "umi_dst.backends."
"""The built-in backends' modules were installed as a top-level ``backends`` package before they
became ``umi_dst.backends``; seed files written then name them so, and still load."""


def is_registered(spec: str) -> bool:
    return spec in BUILTIN_BACKENDS or upgrade_spec.is_upgrade_spec(spec)


def is_own(spec: str) -> bool:
    """Whether ``spec`` names the project's own code: a built-in or a ``module:attribute`` of
    ``umi_dst.backends`` (a case-study variant), which a seed file may name and we may import."""
    return spec in BUILTIN_BACKENDS or canonical(spec).startswith(PACKAGE)


def canonical(spec: str) -> str:
    """``spec`` with a ``module:attribute`` of the legacy ``backends`` package renamed."""
    return PACKAGE + spec.removeprefix(LEGACY_PACKAGE) if spec.startswith(LEGACY_PACKAGE) else spec


def resolve(spec: str) -> FactoryBuilder:
    """Turn a spec into a builder ``(workdir, dim) -> factory``.

    The attribute may be a factory class or any callable taking ``(workdir, dim)``.
    """
    if upgrade_spec.parse(spec) is not None:  # "lance from lancedb==0.30.2"
        try:
            return checked(upgrade_spec.builder(spec))
        except (LookupError, ValueError) as exc:  # no upgradable backend, no exact release
            raise UnknownBackend(f"backend {spec!r}: {exc}") from None
    target = BUILTIN_BACKENDS.get(spec, canonical(spec))
    module_name, sep, attribute = target.partition(":")
    if not sep or not _MODULE.fullmatch(module_name) or not _ATTRIBUTE.fullmatch(attribute):
        known = ", ".join(BUILTIN_BACKENDS)
        raise UnknownBackend(f"unknown backend {spec!r}: use one of {known} or module:attribute (absolute module path)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if is_registered(spec):  # a built-in whose dependency is not installed here
            raise BackendUnavailable(f"backend {spec!r} cannot load here: {exc}") from None
        raise UnknownBackend(f"backend {spec!r}: cannot import {module_name!r} ({exc})") from None
    except Exception as exc:  # the module's own top-level code failed
        raise UnknownBackend(
            f"backend {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    try:
        builder = getattr(module, attribute)
    except AttributeError:
        raise UnknownBackend(f"backend {spec!r}: module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(builder):
        raise UnknownBackend(f"backend {spec!r}: {target} is not callable")
    return checked(builder)


def checked(builder: FactoryBuilder) -> FactoryBuilder:
    """``builder`` whose factories are refused, and destroyed, if their declarations break the contract."""

    @functools.wraps(builder)
    def build_checked(workdir: Path, dim: int) -> BackendFactory:
        factory = builder(workdir, dim)
        try:
            return check_declarations(factory)
        except Exception:
            factory.destroy()
            raise

    return build_checked


def build(spec: str, workdir: Path, dim: int) -> BackendFactory:
    """Build a factory for a fresh store of ``spec`` under ``workdir``."""
    return resolve(spec)(workdir, dim)


def available(spec: str) -> tuple[bool, str]:
    """Whether the spec's module imports here, with the reason when it does not."""
    try:
        resolve(spec)
    except (UnknownBackend, BackendUnavailable) as exc:
        return False, str(exc)
    return True, "ok"
