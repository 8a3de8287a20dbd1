"""``umi-dst upgrade``: a campaign whose every test case crosses from an older release to this one.

``umi-dst upgrade --backend lance --from lancedb==0.30.2 [--from ...] -- [run options]`` runs
``umi-dst run`` on the specs ``lance from lancedb==0.30.2``, ..., one per older release;
``umi-dst upgrade --remove-envs`` deletes the cached environments (``envs``).
"""

from __future__ import annotations

import argparse

from umi_dst.contract import InvalidInput
from umi_dst.upgrade import envs, spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", default="lance", choices=sorted(spec.UPGRADABLE), help="the backend to upgrade (default lance)"
    )
    parser.add_argument(
        "--from",
        dest="older",
        action="append",
        metavar="RELEASE",
        help="an older release, like lancedb==0.30.2 (repeatable: a version matrix)",
    )
    parser.add_argument(
        "--remove-envs",
        action="store_true",
        help=f"delete the cached environments (${envs.CACHE_VARIABLE} or ~/.cache/umi-dst/envs) and exit",
    )
    parser.add_argument(
        "run_options",
        nargs=argparse.REMAINDER,
        help="options for 'umi-dst run' after --: --examples, --steps, --seed, --dim, --seeds-dir, --report-dir",
    )


def run_arguments(args: argparse.Namespace) -> list[str]:
    """The ``umi-dst run`` command line for an ``upgrade`` one; ``InvalidInput`` naming a bad option."""
    if not args.older:
        raise InvalidInput("upgrade: name at least one older release with --from (like --from lancedb==0.30.2)")
    for requirement in args.older:
        envs.check_requirement(requirement)
    options = args.run_options[1:] if args.run_options[:1] == ["--"] else args.run_options
    if "--backend" in options:
        raise InvalidInput("upgrade: give the backend with upgrade's own --backend, not after --")
    backends = [
        part for requirement in args.older for part in ("--backend", spec.upgrade_spec(args.backend, requirement))
    ]
    return ["run", *backends, *options]
