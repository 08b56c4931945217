"""What a trial scores: the experiment's scheduler config simulated over its seeds and arrival rates."""

import math
from collections.abc import Sequence

import numpy as np

from hexsim.experiment import Experiment
from hexsim.metrics.records import QueryRecord
from hexsim.metrics.summary import attainment, scale_deadline
from hexsim.sim.simulate import run_experiment
from hexsim.sim.throughput import throughput_per_seed

# A latency deadline no share of queries meets scores as this many base SLOs.
UNMET_DEADLINE_SCALE = 1000.0


def run_value(experiment: Experiment, objective: str, queries: Sequence[QueryRecord]) -> float:
    """One run's attainment, or latency deadline in base SLOs, as `score` averages them."""
    if objective == "attainment":
        return attainment(queries, experiment.slos)
    deadline = scale_deadline(queries, experiment.target, experiment.bases)
    return UNMET_DEADLINE_SCALE if math.isinf(deadline) else deadline


def score(experiment: Experiment, objective: str = "attainment") -> float:
    """The objective averaged over seeds (and, but for throughput, arrival rates).

    Throughput is each seed's under sustained load (`hexsim.sim.throughput`): a lower bound counts as
    its value, and a rate below the search's floor as 0.
    """
    values = []
    for seed in experiment.seeds:
        if objective == "throughput":
            found = throughput_per_seed(experiment, seed)
            values.append(0.0 if found.bound == "at_most" else found.rate)
            continue
        values += [run_value(experiment, objective, run_experiment(experiment, r, seed)) for r in experiment.rates]
    return float(np.mean(values))
