"""``umi-dst upgrade``: a campaign whose every test case crosses from an older release to this one.

``umi-dst upgrade --backend lance --from lancedb==0.30.2 [--from ...] -- [run options]`` runs
``umi-dst run`` on the specs ``lance from lancedb==0.30.2``, ..., one per older release;
``umi-dst upgrade --remove-envs`` deletes the cached environments (``envs``).
"""

from __future__ import annotations

import argparse

from umi_dst.upgrade import envs, spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="lance", choices=sorted(spec.UPGRADABLE), help="the backend to upgrade (default lance)")
    parser.add_argument("--from", dest="older", action="append", metavar="RELEASE", help="an older release, like lancedb==0.30.2 (repeatable: a version matrix)")
    parser.add_argument("--remove-envs", action="store_true", help=f"delete the cached environments (${envs.CACHE_VARIABLE} or ~/.cache/umi-dst/envs) and exit")
    parser.add_argument("run_options", nargs=argparse.REMAINDER, help="options for 'umi-dst run' after --: --examples, --steps, --seed, --dim, --seeds-dir, --report-dir")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from umi_dst import cli

    if args.remove_envs:
        for path in envs.remove_envs():
            print(f"removed {path}")
        return cli.EXIT_OK
    if not args.older:
        raise cli.UsageError("upgrade: name at least one older release with --from (like --from lancedb==0.30.2)")
    for requirement in args.older:
        try:
            envs.check_requirement(requirement)
        except ValueError as exc:
            raise cli.UsageError(f"upgrade: {exc}") from None
    options = args.run_options[1:] if args.run_options[:1] == ["--"] else args.run_options
    if "--backend" in options:
        raise cli.UsageError("upgrade: give the backend with upgrade's own --backend, not after --")
    backends = [part for requirement in args.older for part in ("--backend", spec.upgrade_spec(args.backend, requirement))]
    return cli.main(["run", *backends, *options])
