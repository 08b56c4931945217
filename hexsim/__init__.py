"""hexsim: simulate, tune and serve agentic Text-to-SQL workflows on heterogeneous GPU clusters.

The public API is `__all__`; everything is imported on first use, so `import hexsim` (and the
command line's help) stays fast.

    import hexsim
    cluster = hexsim.load_cluster("clusters/paper.toml")
    trace = hexsim.load_trace("traces/chess_default.jsonl")
    setup = hexsim.Experiment.create(cluster, trace, rates=(0.03,), slo_scale=2.0)
    records = hexsim.run_experiment(setup.with_policy("hexgen"), rate=0.03, seed=0)
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    # workload
    "Call": "hexsim.workload.model",
    "Stage": "hexsim.workload.model",
    "Query": "hexsim.workload.model",
    "Segment": "hexsim.workload.model",
    "load_trace": "hexsim.workload.traces",
    "save_trace": "hexsim.workload.traces",
    "load_prefix_model": "hexsim.workload.prefixes",
    "apply_prefix_model": "hexsim.workload.prefixes",
    "with_arrivals": "hexsim.workload.arrivals",
    # cluster and profiles
    "ClusterSpec": "hexsim.cluster",
    "InstanceSpec": "hexsim.cluster",
    "load_cluster": "hexsim.cluster",
    "Profile": "hexsim.profiles.latency",
    "load_profile": "hexsim.profiles.files",
    "resolve_profile": "hexsim.profiles.resolve",
    # scheduler
    "SchedulerConfig": "hexsim.scheduler.config",
    "load_scheduler_config": "hexsim.scheduler.config_file",
    "WorkflowTemplate": "hexsim.scheduler.template",
    "default_template": "hexsim.scheduler.template",
    "load_template": "hexsim.scheduler.template",
    "Policy": "hexsim.scheduler.registry",
    "PolicyContext": "hexsim.scheduler.registry",
    "POLICIES": "hexsim.scheduler.registry",
    "get_policy": "hexsim.scheduler.registry",
    "register_policy": "hexsim.scheduler.registry",
    "Dispatcher": "hexsim.scheduler.protocols",
    "QueueOrder": "hexsim.scheduler.protocols",
    "BudgetRule": "hexsim.scheduler.protocols",
    "InstanceView": "hexsim.scheduler.protocols",
    "SchedulerCore": "hexsim.scheduler.core",
    "DecisionLog": "hexsim.scheduler.log",
    # experiments
    "Experiment": "hexsim.experiment",
    "simulate": "hexsim.sim.simulate",
    "run_experiment": "hexsim.sim.simulate",
    "compare_trace": "hexsim.sim.comparison",
    "RunRecords": "hexsim.metrics.records",
    "QueryRecord": "hexsim.metrics.records",
    "CallRecord": "hexsim.metrics.records",
    # errors
    "InputError": "hexsim.errors",
    "ParameterError": "hexsim.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hexsim' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
