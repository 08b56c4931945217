"""Every command's --help renders: no stray format escapes, every option explained, no heavy import."""

import argparse
import subprocess
import sys

import pytest

from hexsim.cli import build_parser


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


def test_every_command_is_reached():
    found = {" ".join(path) for path, _ in commands(build_parser())}
    assert {"simulate", "compare", "trace generate", "profile validate", "tune", "capacity", "emulate"} <= found


def test_help_texts_have_no_doubled_percent_signs():
    for path, parser in commands(build_parser()):
        assert "%%" not in parser.format_help(), " ".join(path)


def test_every_option_has_a_help_text():
    for path, parser in commands(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, (" ".join(path), action.option_strings)


HEAVY = {"numpy", "scipy", "simpy", "optuna", "matplotlib", "httpx", "uvicorn", "starlette"}


@pytest.mark.parametrize("args", [["-c", "import hexsim.cli"], ["-m", "hexsim.cli", "--help"]])
def test_the_parsers_import_no_heavy_package(args):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=60, check=True
    )
    # Lines read "import time: self [us] | cumulative | package.module", indented by depth.
    names = {line.split("|")[2].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "hexsim.cli" in names
    assert {name.split(".")[0] for name in names} & HEAVY == set()
