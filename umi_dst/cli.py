"""The ``umi-dst`` command: run campaigns, replay seeds, list backends, run benchmarks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from umi_dst import registry

EXIT_OK, EXIT_FAILURE_FOUND, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, registry.UnknownBackend) as exc:
        print(f"umi-dst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("umi-dst: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="umi-dst", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a DST campaign and save shrunk failures as seed files")
    run.add_argument("--backend", action="append", metavar="SPEC", help="registered name or module:attribute (repeatable; default: every available built-in)")
    run.add_argument("--examples", type=_positive, default=50, help="test cases per backend (default 50)")
    run.add_argument("--steps", type=_positive, default=30, help="steps per test case (default 30)")
    run.add_argument("--seed", type=int, help="Hypothesis seed, for a reproducible campaign")
    run.add_argument("--dim", type=_positive, default=8, help="embedding dimension (default 8)")
    run.add_argument("--max-bulk", type=_positive, default=2000, help="largest generated bulk part of a batch (default 2000)")
    run.add_argument("--seeds-dir", type=Path, default=Path("seeds"), help="where seed files go (default seeds/)")
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="where the report goes (default reports/)")
    run.set_defaults(handler=_run)

    replay = commands.add_parser("replay", help="replay a seed file step by step, without Hypothesis")
    replay.add_argument("file", type=Path)
    replay.add_argument("--backend", metavar="SPEC", help="replay against this backend instead of the seed's own")
    replay.add_argument("--quiet", action="store_true", help="print only the verdict")
    replay.add_argument("--runs", type=_positive, default=10, help="parallel seeds: concurrent runs to make (default 10)")
    replay.set_defaults(handler=_replay)

    export = commands.add_parser("export", help="write a seed as a standalone script for the engine's maintainers")
    export.add_argument("file", type=Path)
    export.add_argument("--backend", metavar="SPEC", help="write the calls of this backend instead of the seed's own (a module:attribute named only by the seed is not imported: its classes are called)")
    export.add_argument("--out", type=Path, help="the script (default: repro-<seed>[-<backend>].py here); a bug report goes beside it as .md")
    export.set_defaults(handler=_export)

    backends = commands.add_parser("backends", help="list the registered backends and whether they load here")
    backends.set_defaults(handler=_backends)

    bench = commands.add_parser("bench", help="benchmark backends side by side and write a report")
    _add_bench_arguments(bench)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from umi_dst.campaign import run_campaign
    from umi_dst.machine import MachineConfig
    from umi_dst.report import write_campaign_report

    specs = args.backend or [name for name in registry.CAMPAIGN_DEFAULTS if registry.available(name)[0]]
    for spec in specs:
        registry.resolve(spec)  # fail fast, before any campaign runs
    results = []
    for spec in specs:
        with tqdm(total=args.examples, desc=spec, unit="case", file=sys.stderr) as bar:
            result = run_campaign(
                spec,
                dim=args.dim,
                examples=args.examples,
                steps=args.steps,
                seed=args.seed,
                seeds_dir=args.seeds_dir,
                config=MachineConfig(max_bulk=args.max_bulk),
                on_example=lambda: bar.update(1),
            )
        results.append(result)
        if result.passed:
            print(f"{spec}: pass ({result.examples_run} cases, {result.seconds:.1f}s)")
        else:
            print(f"{spec}: FAIL: {result.failure}")
            if result.seed_path:
                note = "" if result.reproduced else " (did not reproduce on replay: flaky)"
                print(f"  seed written: {result.seed_path}{note}")
    settings = {"examples": args.examples, "steps": args.steps, "seed": args.seed, "dim": args.dim, "max_bulk": args.max_bulk}
    md_path, _ = write_campaign_report(results, args.report_dir, settings)
    print(f"report: {md_path}")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILURE_FOUND


def _replay(args: argparse.Namespace) -> int:
    from umi_dst import parallel_seeds
    from umi_dst.parallel import replay_parallel
    from umi_dst.replay import replay
    from umi_dst.seeds import MalformedSeed, load

    parallel = parallel_seeds.is_parallel_seed(args.file)
    try:
        seed = parallel_seeds.load(args.file) if parallel else load(args.file)
    except MalformedSeed as exc:
        raise UsageError(str(exc)) from None
    if seed.description:
        print(f"seed: {seed.description}")
    log = None if args.quiet else print
    if parallel:
        result = replay_parallel(seed, args.backend, args.runs, log=log)
    else:
        result = replay(seed, args.backend, log=log)
    print(result.summary())
    return EXIT_FAILURE_FOUND if result.reproduced else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from umi_dst.export import ExportError, default_script_path, export_file, write
    from umi_dst.seeds import MalformedSeed

    try:
        exported = export_file(args.file, args.backend)
    except (MalformedSeed, ExportError) as exc:
        raise UsageError(str(exc)) from None
    script, report = write(exported, args.out or default_script_path(args.file, args.backend))
    print(f"script: {script}")
    print(f"bug report: {report}")
    return EXIT_OK


def _backends(args: argparse.Namespace) -> int:
    for name, target in registry.BUILTIN_BACKENDS.items():
        ok, reason = registry.available(name)
        print(f"{name:<20} {target:<40} {'available' if ok else 'unavailable: ' + reason}")
    return EXIT_OK


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from umi_dst.bench import command
    except ImportError as exc:
        parser.set_defaults(handler=lambda args: _missing_bench(exc))
        return
    command.add_arguments(parser)
    parser.set_defaults(handler=command.main)


def _missing_bench(exc: ImportError) -> int:
    raise UsageError(f"the benchmark suite needs the 'bench' extra: pip install 'umi-dst[bench]' ({exc})")


if __name__ == "__main__":
    sys.exit(main())
