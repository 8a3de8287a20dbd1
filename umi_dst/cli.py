"""The ``umi-dst`` command: run campaigns, merge their reports, replay seeds, list backends, run benchmarks."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from umi_dst import registry
from umi_dst.campaign.shard import DEFAULT_CONFIG, DEFAULT_EXAMPLES, DEFAULT_STEPS
from umi_dst.campaign.workers import Terminated, stop_on_sigterm
from umi_dst.contract import MAX_DIM, MIN_DIM, InvalidInput
from umi_dst.redact import mask_secrets
from umi_dst.seedfiles.replay import ALLOW_SEED_BACKEND_FLAG
from umi_dst.seedfiles.seed_bounds import MAX_BULK
from umi_dst.seedfiles.seeds import MalformedSeed
from umi_dst.upgrade import command as upgrade_command

EXIT_OK, EXIT_FAILURE_FOUND, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
EXIT_CODES = f"""exit status (every command):
  {EXIT_OK}  pass: no contract violation found (run), the seed passes (replay)
  {EXIT_FAILURE_FOUND}  a contract violation was found (run) or reproduced (replay)
  {EXIT_USAGE}  bad usage or a malformed input file (a bad option, an unknown backend, a malformed
     or out-of-bounds seed file, an output directory that cannot be written)
  {EXIT_ENVIRONMENT}  the environment cannot run the backend (it cannot start, connect or
     authenticate, or lacks a dependency or an extension such as pgvector)
  130, 143  interrupted (Ctrl-C) or terminated (SIGTERM): the run stopped and cleaned up after
     itself (scratch directories, embedded servers, worker processes)
Only status {EXIT_FAILURE_FOUND} is ever reported as a backend failure.
reference, in the repository: docs/contract.md, docs/seed-format.md, docs/backends.md, docs/campaign-report.md"""


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


class EnvironmentProblem(Exception):
    """This environment cannot run what was asked (a missing extra, an unreachable cluster); exit 3."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        return args.handler(args)
    except (UsageError, registry.UnknownBackend, MalformedSeed) as exc:
        return _error(exc, EXIT_USAGE)
    except registry.BackendUnavailable as exc:
        return _error(exc, EXIT_ENVIRONMENT)
    except EnvironmentProblem as exc:
        return _error(exc, EXIT_ENVIRONMENT)
    except Terminated:
        print("umi-dst: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("umi-dst: interrupted", file=sys.stderr)
        return 130


def _error(exc: BaseException, code: int) -> int:
    print(f"umi-dst: error: {mask_secrets(str(exc))}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="umi-dst", description=__doc__, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run a DST campaign and save shrunk failures as seed files", **_with_exit_codes
    )
    run.add_argument(
        "--backend",
        action="append",
        metavar="SPEC",
        help="registered name or module:attribute (repeatable; default: every available built-in)",
    )
    budget = run.add_mutually_exclusive_group()
    budget.add_argument(
        "--examples",
        type=_positive,
        default=DEFAULT_EXAMPLES,
        help=f"test cases per backend (default {DEFAULT_EXAMPLES})",
    )
    budget.add_argument(
        "--duration",
        type=_duration,
        metavar="TIME",
        help="search until this much time is up (90s, 10m, 2h) instead of --examples",
    )
    run.add_argument(
        "--steps", type=_positive, default=DEFAULT_STEPS, help=f"rule steps per test case (default {DEFAULT_STEPS})"
    )
    run.add_argument(
        "--seed", type=int, help="campaign seed, for a reproducible campaign (default: random, printed in the report)"
    )
    run.add_argument(
        "--dim",
        type=_bounded(MIN_DIM, MAX_DIM),
        help=f"pin the embedding dimension, {MIN_DIM} to {MAX_DIM} (default: drawn per test case)",
    )
    run.add_argument(
        "--max-bulk",
        type=_bounded(1, MAX_BULK),
        default=DEFAULT_CONFIG.max_bulk,
        help=f"largest generated bulk part of a batch, at most {MAX_BULK} (default {DEFAULT_CONFIG.max_bulk}; fewer rows at large drawn dims)",
    )
    run.add_argument("--workers", type=_positive, help="worker processes on this machine (default: the number of CPUs)")
    run.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the shards on this Dask scheduler (default: $UMI_DST_CLUSTER); needs the 'cluster' extra",
    )
    run.add_argument(
        "--shard",
        type=_slice,
        metavar="K/N",
        help="run only the K-th of N deterministic slices of the campaign (CI jobs); merge with 'report merge'",
    )
    run.add_argument("--seeds-dir", type=Path, default=Path("seeds"), help="where seed files go (default seeds/)")
    run.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="where the report goes (default reports/)"
    )
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="work with campaign reports", **_with_exit_codes)
    report_commands = report.add_subparsers(dest="report_command", required=True)
    merge = report_commands.add_parser(
        "merge", help="merge the reports of the slices of one campaign (--shard K/N) into one", **_with_exit_codes
    )
    merge.add_argument("files", type=Path, nargs="+", metavar="REPORT.json")
    merge.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="where the merged report goes (default reports/)"
    )
    merge.set_defaults(handler=_report_merge)

    replay = commands.add_parser(
        "replay", help="replay a seed file step by step, without Hypothesis", **_with_exit_codes
    )
    replay.add_argument("file", type=Path)
    replay.add_argument("--backend", metavar="SPEC", help="replay against this backend instead of the seed's own")
    replay.add_argument(
        ALLOW_SEED_BACKEND_FLAG,
        action="store_true",
        help="let the seed's own backend field be a module:attribute spec, which imports that module (running "
        "its code) and calls the attribute; without it only registered backend names are taken from a seed file",
    )
    replay.add_argument("--quiet", action="store_true", help="print only the verdict")
    replay.add_argument(
        "--runs", type=_positive, default=10, help="parallel seeds: concurrent runs to make (default 10)"
    )
    replay.add_argument(
        "--html", type=Path, metavar="OUT", help="also write the seed's page (a self-contained HTML timeline) to OUT"
    )
    replay.set_defaults(handler=_replay)

    export = commands.add_parser(
        "export", help="write a seed as a standalone script for the engine's maintainers", **_with_exit_codes
    )
    export.add_argument("file", type=Path)
    export.add_argument(
        "--backend",
        metavar="SPEC",
        help="write the calls of this backend instead of the seed's own (a module:attribute named only by the seed is not imported: its classes are called)",
    )
    export.add_argument(
        "--out",
        type=Path,
        help="the script (default: repro-<seed>[-<backend>].py here); a bug report goes beside it as .md",
    )
    export.set_defaults(handler=_export)

    upgrade = commands.add_parser(
        "upgrade", help="run cases written by an older release and checked by this one", **_with_exit_codes
    )
    upgrade_command.add_arguments(upgrade)
    upgrade.set_defaults(handler=_upgrade)

    backends = commands.add_parser(
        "backends", help="list the registered backends and whether they load here", **_with_exit_codes
    )
    backends.set_defaults(handler=_backends)

    bench = commands.add_parser("bench", help="benchmark backends side by side and write a report", **_with_exit_codes)
    _add_bench_arguments(bench)
    return parser


_with_exit_codes = {"epilog": EXIT_CODES, "formatter_class": argparse.RawDescriptionHelpFormatter}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "int"  # argparse names the type in its error
    return parse


def check_output_dir(path: Path, what: str) -> None:
    """Fail before a campaign starts if ``path`` could not take files (it is not created here)."""
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what} {path}: {existing} is not a directory")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot write in {existing} ({exc.strerror or exc})") from None


def _duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m`` or ``2h``."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time such as 90s, 10m or 2h, got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return seconds


def _slice(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(k), int(n)


def _run(args: argparse.Namespace) -> int:
    import random

    from umi_dst.campaign import dispatch

    specs = args.backend or [name for name in registry.CAMPAIGN_DEFAULTS if registry.available(name)[0]]
    for spec in specs:
        registry.resolve(spec)  # fail fast, before any campaign runs
    check_output_dir(args.seeds_dir, "--seeds-dir")
    check_output_dir(args.report_dir, "--report-dir")
    plan = dispatch.CampaignPlan(
        backends=tuple(specs),
        examples=None if args.duration else args.examples,
        duration=args.duration,
        steps=args.steps,
        seed=random.getrandbits(32) if args.seed is None else args.seed,
        dim=args.dim,
        config=dataclasses.replace(DEFAULT_CONFIG, max_bulk=args.max_bulk),
        seeds_dir=args.seeds_dir,
        slice=args.shard,
    )
    runner = _runner(args.cluster or _cluster_from_env(), args.workers or os.cpu_count() or 1)
    try:
        with _progress_bar(plan) as progress:
            report = dispatch.run(plan, runner, progress)
    except Terminated:
        runner.interrupt()
        raise
    finally:
        runner.close()
    return _summarise(report, args.report_dir)


def _cluster_from_env() -> str | None:
    from umi_dst.campaign.cluster import address_from_env

    return address_from_env()


def _runner(cluster: str | None, workers: int):
    from umi_dst.campaign import workers as local

    if cluster:
        from umi_dst.campaign.cluster import ClusterUnavailable, DaskRunner

        try:
            return DaskRunner(cluster)
        except ClusterUnavailable as exc:
            raise EnvironmentProblem(str(exc)) from None
    return local.InProcessRunner() if workers == 1 else local.ProcessRunner(workers)


class _progress_bar:
    """Cases done out of the budget (never past it), or elapsed and remaining time."""

    def __init__(self, plan) -> None:
        self.plan = plan

    def __enter__(self):
        from tqdm import tqdm

        if self.plan.duration is None:
            total = self.plan.examples * len(self.plan.backends)
            if self.plan.slice:
                total = sum(s.examples for s in self.plan.shards())
            self.bar = tqdm(total=total, unit="case", file=sys.stderr, desc="campaign")
        else:
            self.bar = tqdm(total=round(self.plan.duration), unit="s", file=sys.stderr, desc="campaign",
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")  # fmt: skip
        return self.update

    def update(self, cases: int, shards: int) -> None:
        if self.plan.duration is None:
            self.bar.update(min(cases, self.bar.total) - self.bar.n)
        else:
            self.bar.update(min(round(self.bar.format_dict["elapsed"]), self.bar.total) - self.bar.n)
            self.bar.set_postfix_str(f"{cases} cases, {shards} shards")

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _summarise(report, report_dir: Path) -> int:
    """Print one line per backend and per bug, write the report, and return the exit status."""
    coverage, bugs = report.coverage(), report.bugs()
    for backend in report.backends:
        failing = [b for b in bugs if b.backend == backend and b.failing]
        verdict = f"FAIL: {len(failing)} distinct bug(s)" if failing else "pass"
        print(f"{backend}: {verdict} ({coverage[backend].cases} cases)")
        for bug in (b for b in bugs if b.backend == backend):
            print(f"  {bug.status}: {mask_secrets(bug.signature)} (hit {bug.hits} times)")
            if bug.seed:
                print(f"    seed written: {bug.seed}" if bug.status.startswith("new") else f"    seed: {bug.seed}")
        for warning in coverage[backend].warnings():
            print(f"  warning: {warning}")
    for error in report.errors():
        print(f"error: {mask_secrets(error)}")
    md_path, _ = report.write(report_dir)
    print(f"report: {md_path} (page: {md_path.with_suffix('.html')})")
    if report.failed():
        return EXIT_FAILURE_FOUND
    return EXIT_ENVIRONMENT if report.errors() else EXIT_OK


def _report_merge(args: argparse.Namespace) -> int:
    from umi_dst.campaign.report import MalformedReport, load, merge

    try:
        merged = merge([load(path) for path in args.files])
    except MalformedReport as exc:
        raise UsageError(str(exc)) from None
    return _summarise(merged, args.report_dir)


def _replay(args: argparse.Namespace) -> int:
    from umi_dst.concurrency.parallel import replay_parallel
    from umi_dst.seedfiles import parallel_seeds
    from umi_dst.seedfiles.replay import backend_for, replay
    from umi_dst.seedfiles.seeds import load

    parallel = parallel_seeds.is_parallel_seed(args.file)
    seed = parallel_seeds.load(args.file) if parallel else load(args.file)
    spec = backend_for(seed.backend, args.backend, args.allow_seed_backend)
    if parallel:
        _check_parallel_seed(seed, spec)
    if args.html is not None:
        if args.html.is_dir():
            raise UsageError(f"--html {args.html}: is a directory; name the page's file")
        check_output_dir(args.html.parent, "--html")
    if seed.description:
        print(f"seed: {seed.description}")
    log = None if args.quiet else print
    if parallel:
        result = replay_parallel(seed, spec, args.runs, log=log)
    else:
        result = replay(seed, spec, log=log)
    print(result.summary())
    if args.html is not None:
        from umi_dst.html.seed_page import render_file

        print(f"page: {render_file(args.file, args.html, spec)}")
    return EXIT_FAILURE_FOUND if result.reproduced else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from umi_dst.export.script import ExportError, default_script_path, export_file, write
    from umi_dst.seedfiles.seeds import MalformedSeed

    try:
        exported = export_file(args.file, args.backend)
    except (MalformedSeed, ExportError) as exc:
        raise UsageError(str(exc)) from None
    script, report = write(exported, args.out or default_script_path(args.file, args.backend))
    print(f"script: {script}")
    print(f"bug report: {report}")
    return EXIT_OK


def _check_parallel_seed(seed, spec: str) -> None:
    """Refuse, before any step runs, a seed the backend cannot run (faults, client processes)."""
    from umi_dst.campaign import leftovers
    from umi_dst.checking.harness import Harness
    from umi_dst.concurrency.parallel import ParallelProgram, check_faults
    from umi_dst.seedfiles.replay import check_clients_can_share, check_runnable

    with leftovers.scratch_directory("replay") as scratch:
        factory = registry.build(spec, scratch, seed.dim)
        try:
            check_clients_can_share(factory, seed.clients_as)
            harness = Harness(factory)
            try:
                check_runnable(seed.prefix, harness, "prefix")
            finally:
                harness.close()
            check_faults(factory, ParallelProgram(tuple(seed.prefix), tuple(map(tuple, seed.clients))), seed.clients_as)
        finally:
            factory.destroy()


def _upgrade(args: argparse.Namespace) -> int:
    from umi_dst.upgrade import envs

    if args.remove_envs:
        for path in envs.remove_envs():
            print(f"removed {path}")
        return EXIT_OK
    try:
        run = upgrade_command.run_arguments(args)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    return main(run)


def _backends(args: argparse.Namespace) -> int:
    for name, target in registry.BUILTIN_BACKENDS.items():
        ok, reason = registry.available(name)
        print(f"{name:<20} {target:<40} {'available' if ok else 'unavailable: ' + reason}")
    return EXIT_OK


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from umi_dst.bench import command
    except ImportError as exc:
        missing = exc  # ``exc`` is unbound once the except clause ends; the handler runs later
        parser.set_defaults(handler=lambda args: _missing_bench(missing))
        return
    command.add_arguments(parser)
    parser.set_defaults(handler=command.main)


def _missing_bench(exc: ImportError) -> int:
    raise UsageError(f"the benchmark suite needs the 'bench' extra: pip install 'umi-dst[bench]' ({exc})")


if __name__ == "__main__":
    sys.exit(main())
