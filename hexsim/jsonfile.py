"""Read a JSON document, with errors that name the file and the line."""

import json
from pathlib import Path
from typing import Any

from hexsim.errors import InputError


def read_json(path: str | Path, what: str = "file") -> Any:
    """The parsed document; `what` names the file in the error when it does not exist ("no such stats file")."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), f"no such {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}", f"malformed JSON ({err.msg}, column {err.colno})") from None
    except UnicodeDecodeError as err:
        raise InputError(str(path), f"not UTF-8 text (byte {err.start})") from None
