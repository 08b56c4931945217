"""Every command's --help renders: no stray format escapes, every option explained."""

import argparse

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
