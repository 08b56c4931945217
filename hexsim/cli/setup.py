"""The options simulate, compare, tune and capacity share, turned into library objects.

Imported by the handlers only: it pulls in the simulator.
"""

from argparse import Namespace
from pathlib import Path

from hexsim.cluster import ClusterSpec, load_cluster
from hexsim.errors import InputError
from hexsim.experiment import Experiment
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.config_file import load_scheduler_config
from hexsim.scheduler.template import WorkflowTemplate, default_template, load_template
from hexsim.workload.model import Query
from hexsim.workload.traces import default_prefix_model, load_trace


def cluster_file(args: Namespace) -> Path:
    """--cluster, or the bundled paper cluster."""
    return Path(args.cluster) if args.cluster else default_cluster()


def cluster(args: Namespace) -> ClusterSpec:
    return load_cluster(cluster_file(args))


def trace_file(args: Namespace) -> Path:
    """--trace, or the bundled trace."""
    return Path(args.trace) if args.trace else default_trace()


def prefix_model(args: Namespace, path: Path) -> str | None:
    """--prefix-model, or what the trace at `path` gets without it (chess for .json and .csv, nothing for .jsonl)."""
    return args.prefix_model if args.prefix_model is not None else default_prefix_model(path)


def trace(args: Namespace) -> list[Query]:
    """--trace (or the bundled trace) with the prefixes of --prefix-model."""
    path = trace_file(args)
    return load_trace(path, prefix_model(args, path))


def traces(args: Namespace) -> dict[str, list[Query]]:
    """Every --trace (a repeated option) by file stem, or the bundled trace, with the prefixes of --prefix-model."""
    files = [Path(t) for t in args.trace] if args.trace else [default_trace()]
    found = {path.stem: load_trace(path, prefix_model(args, path)) for path in files}
    if len(found) < len(files):
        raise InputError("--trace", "two traces have the same file name; rename one")
    return found


def template(args: Namespace) -> WorkflowTemplate:
    """--template, or the template learned from the bundled trace."""
    return load_template(args.template) if args.template else default_template()


def scheduler_config(args: Namespace) -> SchedulerConfig:
    """The [scheduler] table of --config, or the defaults."""
    return load_scheduler_config(args.config) if args.config else SchedulerConfig()


def seeds(args: Namespace) -> tuple[int, ...]:
    """--seed and the --seeds after it (one seed where the command has no --seeds)."""
    return tuple(range(args.seed, args.seed + getattr(args, "seeds", 1)))


def check_calls_fit(path: Path, queries: list[Query], cluster: ClusterSpec) -> None:
    """A call no instance could ever hold is an input error, named before the run, not a query lost in it."""
    limit = cluster.longest_call
    for query in queries:
        for k, stage in enumerate(query.stages):
            for i, call in enumerate(stage.calls):
                if call.input_tokens + call.output_tokens > limit:
                    raise InputError(
                        str(path),
                        f"query {query.id!r}, stage {k}, call {i} ({call.step}): {call.input_tokens} prompt + "
                        f"{call.output_tokens} output tokens exceed the KV cache of every instance serving "
                        f"{cluster.model} (at most {limit} tokens)",
                    )


def load_experiment(args: Namespace, cluster: ClusterSpec, queries: list[Query], **settings) -> Experiment:
    """The experiment of the shared options (template, seeds, SLO scale) and `settings` (rates, config, ...);
    `queries`, from --trace, must fit the cluster."""
    if queries:
        check_calls_fit(trace_file(args), queries, cluster)
    return Experiment.create(cluster, queries, template(args), seeds=seeds(args), slo_scale=args.slo_scale, **settings)
