"""Locate the profiles and traces shipped with hexsim (wheel or source checkout)."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The shipped `profiles`, `clusters`, `traces` or `prefixes` folder: inside a wheel, else the source checkout's."""
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def default_trace() -> Path:
    return bundled_dir("traces") / "chess_default.jsonl"


def default_cluster() -> Path:
    return bundled_dir("clusters") / "paper.toml"
