"""The traces the experiments run: the published CHESS traces beside the repository, else hexsim's bundled one."""

from pathlib import Path

from hexsim.resources import default_trace

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traces"


def trace_paths() -> list[Path]:
    return sorted(SHARED.glob("chess_bird_trace*.json")) or [default_trace()]
