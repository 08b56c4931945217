"""The `hexsim` command line: one module per command, holding its parser and its handler.

Parsers are built from light modules only, so `hexsim --help` is quick; each handler imports
what it runs on.
"""

import argparse
import sys

from hexsim import __version__
from hexsim.cli import capacity, compare, emulate, launch, profile, replay, serve, simulate, trace, tune
from hexsim.errors import InputError, ParameterError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2) instead of usage dumps, worded like hexsim's own."""

    def error(self, message: str) -> None:
        self.exit(2, f"hexsim: error: {message.removeprefix('argument ')} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hexsim",
        description="Simulate, tune and serve agentic Text-to-SQL workflows on heterogeneous GPU clusters.",
    )
    parser.add_argument("--version", action="version", version=f"hexsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for command in (simulate, compare, trace, profile, serve, emulate, replay, launch, tune, capacity):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console()
    err = Console(stderr=True)
    try:
        args.run(args, console, err)
    except ParameterError as error:
        print(f"hexsim: error: {args.flags.get(error.parameter, error.parameter)}: {error.message}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"hexsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hexsim: interrupted", file=sys.stderr)
        return 130
    return 0
