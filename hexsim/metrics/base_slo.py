"""The base SLO: standalone latency of a standard CHESS workflow, averaged over the cluster."""

from collections.abc import Iterable

from hexsim.profiles.latency import Profile

# (step, input tokens, output tokens, calls in sequence); the parallel candidate stage counts once.
STANDARD_CHESS_WORKFLOW = (
    ("Information Retriever", 308, 5, 4),
    ("extract_keywords", 667, 45, 1),
    ("generate_candidate", 11748, 678, 1),
    ("revise", 5963, 79, 4),
    ("unit_tester", 275, 4, 3),
    ("generate_unit_test", 1109, 103, 1),
    ("evaluate", 961, 22, 1),
)


def workflow_time(profile: Profile) -> float:
    return sum(n * profile.standalone_time(i, o) for _, i, o, n in STANDARD_CHESS_WORKFLOW)


def base_slo(profiles: Iterable[Profile]) -> float:
    """Mean over the cluster's instances (each instance counted) of the standard workflow's time."""
    times = [workflow_time(p) for p in profiles]
    return sum(times) / len(times)
