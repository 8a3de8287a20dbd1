"""``umi-dst bench``: measure every backend on the same data and write the report.

``umi-dst bench --compare A.json B.json`` prints two earlier reports side by side instead, and
``umi-dst bench --render A.json`` writes an earlier report's Markdown and charts again.
Until the CLI wires it in, run it as ``python -m umi_dst.bench.command``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from umi_dst import registry
from umi_dst.bench import compare, report, suite

DEFAULTS = {
    "sizes": (100, 1_000, 10_000),
    "dims": (128, 1536),
    "queries": 50,
    "singles": 100,
    "framework_examples": 5,
    "framework_steps": 20,
    "shrink_examples": 20,
}
QUICK = {
    "sizes": (100, 1_000),
    "dims": (128,),
    "queries": 20,
    "singles": 20,
    "framework_examples": 2,
    "framework_steps": 10,
    "shrink_examples": 5,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        action="append",
        metavar="SPEC",
        help="registered name or module:attribute (repeatable; default: every available built-in)",
    )
    parser.add_argument(
        "--sizes", type=_int_list, metavar="N,N,...", help=f"record counts (default {_join(DEFAULTS['sizes'])})"
    )
    parser.add_argument(
        "--dims", type=_int_list, metavar="D,D,...", help=f"dimensions (default {_join(DEFAULTS['dims'])})"
    )
    parser.add_argument(
        "--shapes",
        type=_shape_list,
        default=(),
        metavar="NxD,...",
        help="extra cases beyond sizes x dims, e.g. 10000x768, or 50000x1536,100000x768 (the small VectorDBBench shapes)",
    )
    parser.add_argument("--queries", type=int, help=f"queries per search limit (default {DEFAULTS['queries']})")
    parser.add_argument("--singles", type=int, help=f"calls per point operation (default {DEFAULTS['singles']})")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    parser.add_argument(
        "--framework-examples",
        type=int,
        help=f"contract-machine examples per backend; 0 skips (default {DEFAULTS['framework_examples']})",
    )
    parser.add_argument(
        "--framework-steps", type=int, help=f"steps per example (default {DEFAULTS['framework_steps']})"
    )
    parser.add_argument(
        "--shrink-examples",
        type=int,
        help=f"test cases to find a failure on each case-study backend before shrinking it; 0 skips "
        f"(default {DEFAULTS['shrink_examples']})",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the raw engine baselines")
    parser.add_argument("--no-sweep", action="store_true", help="skip the approximate-search knob sweeps")
    parser.add_argument(
        "--no-filtered", action="store_true", help="skip filtered search per selectivity (at the largest case)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and counts: under a minute")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default reports/)")
    parser.add_argument("--workdir", type=Path, help="where stores are created (default: a temporary directory)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A", "B"),
        help="print two report JSON files side by side as ratios B/A, and run nothing",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="write the Markdown and charts of an earlier report JSON again, next to it, and run nothing",
    )
    parser.add_argument(
        "--reading",
        type=_text_file,
        metavar="MARKDOWN",
        help="a written reading of the figures to keep in the report (with a run or --render)",
    )


def main(args: argparse.Namespace) -> int:
    if args.compare:
        try:
            print(compare.render(*args.compare))
        except compare.UnreadableReport as exc:
            print(f"umi-dst bench: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.render:
        try:
            data = compare.load(args.render)
        except compare.UnreadableReport as exc:
            print(f"umi-dst bench: {exc}", file=sys.stderr)
            return 2
        _, markdown_path = report.write(_with_reading(data, args.reading), args.render.parent)
        print(f"wrote {markdown_path}")
        return 0
    backends, unavailable = _backends(args.backend)
    for spec, reason in unavailable.items():
        print(f"umi-dst bench: skipping {spec}: {reason}", file=sys.stderr)
    if args.backend and unavailable:
        return 2
    with tempfile.TemporaryDirectory(prefix="umi-dst-bench-") as scratch:
        config = _config(args, backends, args.workdir or Path(scratch))
        data = suite.run(config, progress=not args.no_progress)
        data["unavailable"] = unavailable
        json_path, markdown_path = report.write(_with_reading(data, args.reading), args.out)
    print(f"wrote {markdown_path} and {json_path}")
    for error in data["errors"]:
        print(f"umi-dst bench: {error['error']}", file=sys.stderr)
    return 1 if data["errors"] else 0


def _with_reading(data: dict, reading: str | None) -> dict:
    if reading is not None:
        data["reading"] = reading
    return data


def _backends(requested: list[str] | None) -> tuple[tuple[str, ...], dict[str, str]]:
    return suite.available_backends(tuple(requested or registry.CAMPAIGN_DEFAULTS))


def _config(args: argparse.Namespace, backends: tuple[str, ...], workdir: Path) -> suite.BenchConfig:
    def pick(name: str):
        given = getattr(args, name)
        if given is not None:
            return given
        return (QUICK if args.quick else DEFAULTS)[name]

    cases = [(n, dim) for dim in pick("dims") for n in pick("sizes")] + list(args.shapes)
    return suite.BenchConfig(
        backends=backends,
        cases=tuple(dict.fromkeys(cases)),
        queries=pick("queries"),
        singles=pick("singles"),
        seed=args.seed,
        baselines=not args.no_baselines,
        sweep=not args.no_sweep,
        framework_examples=pick("framework_examples"),
        framework_steps=pick("framework_steps"),
        shrink_examples=pick("shrink_examples"),
        workdir=workdir,
        filtered=not args.no_filtered,
    )


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _shape_list(text: str) -> tuple[tuple[int, int], ...]:
    shapes = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        n, sep, dim = part.lower().partition("x")
        if not sep or not n.isdigit() or not dim.isdigit() or int(n) < 1 or int(dim) < 1:
            raise argparse.ArgumentTypeError(f"expected NxD shapes such as 50000x1536, got {part!r}")
        shapes.append((int(n), int(dim)))
    return tuple(shapes)


def _text_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None


def _join(values: tuple[int, ...]) -> str:
    return ",".join(str(value) for value in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="umi-dst bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
