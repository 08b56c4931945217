"""The `hexsim` command line."""

import argparse
import sys
from pathlib import Path

from rich.console import Console

from hexsim import __version__
from hexsim.cli_args import add_cluster, add_rate, add_slo_scale, add_template, add_trace, positive_float, positive_int
from hexsim.cli_profile import add_emulate_parser, add_profile_parser, dispatch_profile
from hexsim.cli_tune import add_capacity_parser, add_tune_parser
from hexsim.errors import InputError
from hexsim.scheduler.registry import POLICIES
from hexsim.workload.arrivals import PROCESSES


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2) instead of usage dumps."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_scheduler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file whose [scheduler] table sets the policies' hyperparameters (alpha, beta, eps, max_running)",
    )
    add_template(p)


def _add_simulate(sub) -> None:
    from hexsim.commands.simulate import DEFAULT_RATE, DEFAULT_SLO_SCALE

    p = sub.add_parser(
        "simulate",
        help="replay a trace through scheduling policies on a simulated cluster",
        description="Replay a Text-to-SQL workflow trace through one or more scheduling policies on a "
        "simulated heterogeneous cluster and report SLO attainment, latency deadlines and percentiles. "
        "With no arguments: the bundled trace on the paper's cluster (Llama-3.1-70B on A100, A100, "
        "A6000, L40S), every registered policy.",
    )
    add_cluster(p)
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    p.add_argument(
        "--arrivals",
        choices=PROCESSES,
        default="poisson",
        help="arrival process (default poisson; gamma is bursty; trace uses the trace's times)",
    )
    p.add_argument(
        "--cv",
        type=positive_float,
        default=2.0,
        metavar="X",
        help="coefficient of variation of gamma inter-arrival gaps (default 2)",
    )
    p.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help=f"policy to run; repeat for several (default: all of {', '.join(POLICIES)})",
    )
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    p.add_argument("--seed", type=int, default=0, help="random seed of the arrival process (default 0)")
    _add_scheduler_options(p)
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    p.add_argument("--out", metavar="DIR", help="write per-query and per-call CSVs for each policy into DIR")
    p.add_argument("--timeline", metavar="FILE", help="write a Chrome/Perfetto trace JSON of every batch")


def _add_compare(sub) -> None:
    from hexsim.commands.compare import THROUGHPUT_SLO_SCALE
    from hexsim.commands.simulate import DEFAULT_RATE

    p = sub.add_parser(
        "compare",
        help="compare policies per trace: attainment curves, latency deadlines, throughput",
        description="Compare scheduling policies per trace as the HexGen-Text2SQL paper does: attainment "
        "against SLO scale, latency deadlines at 95% and 99% attainment, throughput at 95% attainment "
        "(highest Poisson arrival rate found by bisection over simulations), P95 latency, and ratios "
        "against vllm and lor.",
    )
    add_cluster(p)
    p.add_argument("--trace", action="append", metavar="FILE", help="trace file; repeat for several (default: bundled)")
    p.add_argument(
        "--rates",
        nargs="+",
        type=positive_float,
        metavar="QPS",
        help=f"arrival rates, queries/s; headline numbers use the first (default {DEFAULT_RATE})",
    )
    p.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help=f"policy to compare; repeat for several (default: all of {', '.join(POLICIES)})",
    )
    add_slo_scale(
        p,
        THROUGHPUT_SLO_SCALE,
        "SLO scale at which throughput is measured (CHESS queries with many revise rounds take over twice "
        "the base SLO even alone)",
    )
    p.add_argument("--seed", type=int, default=0, help="first random seed of the arrival process (default 0)")
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="M",
        help="arrival samples per trace, rate and policy (seeds SEED..SEED+M-1), their queries pooled for every "
        "number: steadier deadlines and throughput for M times the simulations (default 1)",
    )
    _add_scheduler_options(p)
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    p.add_argument("--out", metavar="DIR", help="write report.json and figures (PNG) into DIR")


def _add_trace(sub) -> None:
    p = sub.add_parser(
        "trace",
        help="generate and inspect workflow traces",
        description="Generate synthetic CHESS traces and inspect traces.",
    )
    tsub = p.add_subparsers(dest="trace_command", required=True, metavar="{generate,stats,template}")
    g = tsub.add_parser(
        "generate",
        help="write a synthetic CHESS-like trace (JSONL)",
        description="Write a synthetic CHESS-like trace whose step token lengths and stage "
        "structure follow statistics fitted to the published CHESS traces.",
    )
    g.add_argument("--queries", type=positive_int, default=500, metavar="N", help="number of queries (default 500)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--out", required=True, metavar="FILE", help="output JSONL trace")
    g.add_argument("--stats", metavar="FILE", help="workflow statistics JSON (default: the bundled CHESS fit)")
    s = tsub.add_parser(
        "stats",
        help="per-step token statistics of a trace",
        description="Per-step call counts and token-length statistics, calls per query, "
        "revise rounds and evaluation counts of a trace.",
    )
    s.add_argument("file", metavar="FILE", help="trace file (.json, .csv or .jsonl)")
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    m = tsub.add_parser(
        "template",
        help="learn the scheduler's workflow template from a trace",
        description="Learn the workflow template the scheduler plans with: mean output length "
        "per step, mean longest prompt per stage, and the stages expected to follow each "
        "workflow position. Use it with --template.",
    )
    m.add_argument("file", metavar="FILE", help="trace file (.json, .csv or .jsonl)")
    m.add_argument("--out", required=True, metavar="FILE", help="output template JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hexsim",
        description="Simulate, tune and serve agentic Text-to-SQL workflows on heterogeneous GPU clusters.",
    )
    parser.add_argument("--version", action="version", version=f"hexsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _add_simulate(sub)
    _add_compare(sub)
    _add_trace(sub)
    add_profile_parser(sub)
    add_emulate_parser(sub)
    add_tune_parser(sub)
    add_capacity_parser(sub)
    return parser


def _dispatch(args: argparse.Namespace, console: Console, err: Console) -> None:
    if args.command == "simulate":
        from hexsim.commands import simulate

        simulate.run(args, console, err)
    elif args.command == "compare":
        from hexsim.commands import compare

        compare.run(args, console, err)
    elif args.command == "trace":
        from hexsim.workload import trace_commands

        if args.trace_command == "generate":
            stats = Path(args.stats) if args.stats else None
            trace_commands.run_generate(args.queries, args.seed, Path(args.out), stats)
        elif args.trace_command == "template":
            trace_commands.run_template(Path(args.file), Path(args.out))
        else:
            trace_commands.run_stats(Path(args.file), args.json, console)
    elif args.command == "profile":
        dispatch_profile(args, console, err)
    elif args.command == "tune":
        from hexsim.commands import tune

        tune.run(args, console, err)
    elif args.command == "emulate":
        from hexsim.live.emulate_command import run_emulate

        run_emulate(args)
    elif args.command == "capacity":
        from hexsim.commands import capacity

        capacity.run(args, console, err)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    try:
        _dispatch(args, console, err)
    except InputError as error:
        print(f"hexsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hexsim: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
