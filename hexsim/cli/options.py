"""Argument types and the options several `hexsim` commands share; light enough for --help."""

import argparse

from hexsim.defaults import ARRIVAL_PROCESSES
from hexsim.scheduler.registry import POLICIES


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: numpy takes non-negative integers only."""
    return non_negative_int(text)


def flags(parser: argparse.ArgumentParser, **renames: str) -> dict[str, str]:
    """The flag that sets each library parameter: `--a-b` sets `a_b`, unless `renames` says otherwise.

    Call it after the last option is added; the command line reports a ParameterError under this flag.
    """
    found = {
        option.removeprefix("--").replace("-", "_"): option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    }
    return found | renames


def add_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", metavar="FILE", help="cluster TOML (default: the bundled paper cluster)")


def add_trace(p: argparse.ArgumentParser) -> None:
    """--trace and the --prefix-model applied to it."""
    p.add_argument("--trace", metavar="FILE", help="trace: .json (Hexgen-Flow), .csv (dataset) or .jsonl (hexsim)")
    add_prefix_model(p)


def add_prefix_model(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """--prefix-model: the prefix preset applied to the trace; `default` names the one applied without it
    (None: chess for a .json or .csv trace, a .jsonl trace as it is)."""
    said = (
        f"default {default}"
        if default
        else "default: chess for a .json or .csv trace; a .jsonl trace keeps the prefixes it carries"
    )
    p.add_argument(
        "--prefix-model",
        metavar="NAME|FILE",
        default=default,
        help="the shared segments (prompt template, database schema, question) the calls' prompts start "
        f"with, for prefix caching: a shipped preset (chess), a preset TOML file, or none ({said})",
    )


def add_arrivals(p: argparse.ArgumentParser) -> None:
    """--arrivals and --cv: the arrival process of the queries."""
    p.add_argument(
        "--arrivals",
        choices=ARRIVAL_PROCESSES,
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


def described_arrivals(args: argparse.Namespace) -> tuple[str, str]:
    """The rate and the arrival process as a report names them: ("0.03 q/s", "poisson arrivals at 0.03 q/s")."""
    if args.arrivals == "trace":
        return "the trace's arrival times", "trace arrivals"
    return f"{args.rate:g} q/s", f"{args.arrivals} arrivals at {args.rate:g} q/s"


def add_rate(p: argparse.ArgumentParser, default: float) -> None:
    p.add_argument(
        "--rate",
        type=positive_float,
        default=default,
        metavar="QPS",
        help=f"arrival rate, queries/s (default {default})",
    )


def add_slo_scale(p: argparse.ArgumentParser, default: float, what: str = "SLO as a multiple of the base SLO") -> None:
    p.add_argument(
        "--slo-scale", type=positive_float, default=default, metavar="X", help=f"{what} (default {default:g})"
    )


def add_seed(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--seed", type=seed, default=0, help=f"{what} (default 0)")


def add_template(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--template",
        metavar="FILE",
        help="workflow template JSON (default: learned from the bundled trace; see 'hexsim trace template')",
    )


def add_config(
    p: argparse.ArgumentParser,
    text: str = "TOML file whose [scheduler] table sets the policies' hyperparameters (alpha, beta, eps, max_running)",
) -> None:
    p.add_argument("--config", metavar="FILE", help=text)


def add_policies(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help=f"{what}; repeat for several (default: all of {', '.join(POLICIES)})",
    )
