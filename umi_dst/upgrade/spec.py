"""Upgrade specs: ``<backend> from <older release>``, e.g. ``lance from lancedb==0.30.2``.

The spec is the backend name a seed file records, so a failure found across an upgrade names
both releases (the current one is in the seed's ``versions``) and replays across the same
upgrade; a seed without ``from`` is a plain, same-release case as before. Only backends listed
in ``UPGRADABLE`` and exact releases (``envs.REQUIREMENT``) are accepted, so a seed file cannot
choose what gets installed beyond a release of the engine.
"""

from __future__ import annotations

import importlib
import re

from umi_dst.contract import FactoryBuilder

UPGRADABLE: dict[str, str] = {
    "lance": "umi_dst.backends.lance.old_release:builder",
    "lance-approx": "umi_dst.backends.lance.old_release:approximate_builder",
}
"""Backend -> ``module:function(requirement, spec)`` building its upgrade factories."""
SEPARATOR = " from "
_SPEC = re.compile(r"(?P<backend>[a-z][a-z0-9-]*) from (?P<requirement>\S+)")


def upgrade_spec(backend: str, requirement: str) -> str:
    return f"{backend}{SEPARATOR}{requirement}"


def parse(spec: str) -> tuple[str, str] | None:
    """``(backend, requirement)`` for an upgrade spec, ``None`` for any other spec."""
    match = _SPEC.fullmatch(spec)
    return None if match is None else (match["backend"], match["requirement"])


def is_upgrade_spec(spec: str) -> bool:
    """An upgrade of an upgradable backend from an allowed release (safe to resolve from a seed)."""
    from umi_dst.upgrade.envs import REQUIREMENT

    parsed = parse(spec)
    return parsed is not None and parsed[0] in UPGRADABLE and REQUIREMENT.fullmatch(parsed[1]) is not None


def builder(spec: str) -> FactoryBuilder:
    """The factory builder for an upgrade spec; ``LookupError`` naming the problem otherwise."""
    from umi_dst.upgrade.envs import check_requirement

    parsed = parse(spec)
    if parsed is None or parsed[0] not in UPGRADABLE:
        raise LookupError(
            f"{spec!r} is no upgrade spec: use '<backend> from <release>' with backend one of {sorted(UPGRADABLE)}"
        )
    backend, requirement = parsed
    check_requirement(requirement)
    module_name, _, attribute = UPGRADABLE[backend].partition(":")
    return getattr(importlib.import_module(module_name), attribute)(requirement, spec)
