"""A small, fast tuning workload."""

from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.resources import default_cluster, default_trace
from hexsim.workload.traces import load_trace


def small_experiment(queries: int = 20, seeds=(0,), rates=(0.03,)) -> Experiment:
    trace = load_trace(default_trace())[:queries]
    return Experiment.create(load_cluster(default_cluster()), trace, seeds=seeds, rates=rates, slo_scale=2.0)
