"""Check output locations before any work starts: a run must not end in an error it could have
given at once, after minutes of simulation, nor leave part of its output behind."""

import os
import tempfile
from pathlib import Path

from hexsim.errors import InputError


def output_file(flag: str, path: str | Path) -> Path:
    """`path` as a file to write: not a folder, in a folder that exists (or can be made) and takes files."""
    target = Path(path)
    if target.is_dir():
        raise InputError(flag, f"{path}: is a folder; give a file name")
    _writable(flag, path, target.parent)
    return target


def output_folder(flag: str, path: str | Path) -> Path:
    """`path` as a folder to write files into: a folder, or nothing yet in a place that takes one."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(flag, f"{path}: exists and is not a folder")
    _writable(flag, path, target)
    return target


def _writable(flag: str, given: str | Path, folder: Path) -> None:
    """The nearest existing folder on the way to `folder` must take a new file (tried, then removed)."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(flag, f"{given}: {existing} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".hexsim-probe-")
    except OSError as error:
        raise InputError(flag, f"{given}: cannot write in {existing} ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(probe)
