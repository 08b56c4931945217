"""Argument types and the options several `hexsim` commands share."""

import argparse


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


def add_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", metavar="FILE", help="cluster TOML (default: the bundled paper cluster)")


def add_trace(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trace", metavar="FILE", help="trace: .json (Hexgen-Flow), .csv (dataset) or .jsonl (hexsim)")


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


def add_template(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--template",
        metavar="FILE",
        help="workflow template JSON (default: learned from the bundled trace; see 'hexsim trace template')",
    )
