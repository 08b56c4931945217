"""Whether a run's arrivals outpaced its cluster, from its query records alone."""

import bisect
import math
from collections.abc import Sequence
from statistics import median

from hexsim.metrics.records import QueryRecord

MIN_QUERIES = 32
GROWTH = 2.0
CONSEQUENCE = "its backlog grows, so attainment reflects the trace's length more than the policy"


def backlogs(queries: Sequence[QueryRecord]) -> list[int]:
    """The queries in the system (arrived, not finished) as each query arrives, itself included, by arrival."""
    arrivals = sorted(q.arrival for q in queries)
    finishes = sorted(math.inf if q.finished is None else q.finished for q in queries)
    return [bisect.bisect_right(arrivals, t) - bisect.bisect_right(finishes, t) for t in arrivals]


def overloaded(queries: Sequence[QueryRecord]) -> bool:
    """True when the backlog grew through the run: the cluster could not keep up with the arrivals.

    A cluster that keeps up holds a steady number of queries: the backlog an arrival finds
    varies around the arrival rate times the mean latency, early in the run as late. One that
    cannot keep up accumulates the excess, so the backlog grows in proportion to time, and the
    median backlog met by the last quarter of the arrivals is about 7/3 of the second quarter's
    (the quarters' middles lie at 7/8 and 3/8 of the arrivals). Latency need not grow with
    arrival order (engines that share their time among all queued calls slow every query down
    alike), the backlog must. The first quarter is left out: it fills an empty cluster.

    The rule: the last quarter's median backlog is over GROWTH (2) times the second quarter's,
    and exceeds it by more than three standard deviations of a Poisson count of that mean, so
    that a steady backlog of a few queries does not pass by chance. Runs of fewer than
    MIN_QUERIES queries are too short to tell. Several runs of one arrival process, each from
    time 0, may be pooled: their backlogs add up, steady or growing as theirs are.
    """
    if len(queries) < MIN_QUERIES:
        return False
    found = backlogs(queries)
    quarter = len(found) // 4
    second = median(found[quarter : 2 * quarter])
    last = median(found[-quarter:])
    return last > GROWTH * second and last - second > 3 * math.sqrt(max(second, 1))
