"""How much of a trace's prompts its prefix segments share: per step, and for the whole trace."""

from collections.abc import Sequence

from rich.console import Console

from hexsim.metrics.tables import print_table
from hexsim.workload.model import Query


def prefix_statistics(queries: Sequence[Query]) -> dict:
    """Plain data: distinct segments, and per step (and `all`) the calls, the calls with a prefix, the input
    and prefix tokens, and the `reusable` tokens: those of segments an earlier call already had after the
    same segments, the trace's calls taken in order (query by query, stage by stage). That is what a
    prefix cache that never evicts could skip, block rounding aside."""
    seen: set[tuple[str, ...]] = set()
    keys: set[str] = set()
    steps: dict[str, dict[str, int]] = {}
    for query in queries:
        for call in query.calls:
            row = steps.setdefault(call.step, dict.fromkeys(("calls", "with_prefix", "input", "prefix", "reusable"), 0))
            row["calls"] += 1
            row["input"] += call.input_tokens
            row["with_prefix"] += bool(call.prefix)
            path: tuple[str, ...] = ()
            for segment in call.prefix:
                path += (segment.key,)
                keys.add(segment.key)
                row["prefix"] += segment.tokens
                if path in seen:
                    row["reusable"] += segment.tokens
                else:
                    seen.add(path)
    total = {
        name: sum(row[name] for row in steps.values())
        for name in ("calls", "with_prefix", "input", "prefix", "reusable")
    }
    return {"segments": len(keys), "steps": steps, "all": total}


def render_prefix_stats(stats: dict, console: Console) -> None:
    """The per-step table of `prefix_statistics`; nothing when no call has a prefix."""
    if not stats["all"]["with_prefix"]:
        return

    def row(name: str, counts: dict[str, int]) -> list[str]:
        share = counts["input"] or 1
        return [
            name,
            str(counts["calls"]),
            str(counts["with_prefix"]),
            f"{counts['prefix'] / max(counts['calls'], 1):.1f}",
            f"{counts['prefix'] / share:.1%}",
            f"{counts['reusable'] / share:.1%}",
        ]

    print_table(
        console,
        f"Prefix segments ({stats['segments']} distinct), by step",
        ["step", "calls", "prefixed", "mean", "share", "reusable"],
        [row(name, counts) for name, counts in stats["steps"].items()] + [row("all", stats["all"])],
        legend=[
            "prefixed: calls with a prefix; mean: prefix tokens per call; share: prefix tokens over prompt "
            "tokens; reusable: "
            "share of prompt tokens in segments an earlier call of the trace had after the same segments "
            "(what a prefix cache that never evicts could skip, block rounding aside)."
        ],
    )
