"""`hexsim replay`: send a trace's queries to live engines (or hexsim's gateway) and report as simulate does."""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hexsim.cli.base_slo import add_base_slo
from hexsim.cli.options import (
    add_arrivals,
    add_cluster,
    add_rate,
    add_seed,
    add_slo_scale,
    add_trace,
    described_arrivals,
    flags,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_RATE, DEFAULT_SLO_SCALE
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_TIMEOUT_S = 600.0
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def target_url(text: str) -> str:
    """A server's base URL, `http(s)://host[:port][/prefix]`, without a trailing slash."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number from 0 to 65535
        valid = False
    if not valid or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL such as http://127.0.0.1:8000, got {text!r}"
        )
    return text.rstrip("/")


def label(text: str) -> str:
    if not _LABEL.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a name of letters, digits, '.', '_' and '-' (it names files), got {text!r}"
        )
    return text


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "replay",
        help="send a trace's queries to live vLLM engines or hexsim's gateway and report as simulate does",
        description="Send the queries of a trace, with the arrival times 'hexsim simulate' draws for the same "
        "options, as real requests (stage after stage, the calls of a stage at once) to vLLM engines, engine "
        "emulators or hexsim's gateway, and report SLO attainment and latency as simulate does; the per-query "
        "and per-call CSVs are written to --out as the run goes. Several --target URLs: calls go round-robin "
        "over them (vLLM's baseline).",
    )
    p.add_argument(
        "--target",
        action="append",
        required=True,
        type=target_url,
        metavar="URL",
        help="base URL of a server with vLLM's OpenAI-compatible API (an engine, an emulator or hexsim's gateway); "
        "repeat for several (calls then go round-robin)",
    )
    add_cluster(p)
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    add_arrivals(p)
    add_seed(p, "random seed of the arrival process and of the prompts' token ids")
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    add_base_slo(p)
    p.add_argument(
        "--queries", type=positive_int, metavar="N", help="replay the first N queries of the trace (default: all)"
    )
    p.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="the targets run S times faster than real time (emulators): arrival gaps are divided by S and "
        "measured times multiplied by S, so records are in model seconds (default 1)",
    )
    p.add_argument("--model", metavar="NAME", help="model to ask for (default: the one model every target serves)")
    p.add_argument(
        "--label",
        type=label,
        metavar="NAME",
        help="names the output files and the report's column (default: vllm with several targets, else live)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"wall seconds a call may take before it fails its query (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    p.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        help="write queries_LABEL.csv and calls_LABEL.csv into DIR, a row as each query and call ends",
    )
    p.set_defaults(run=run, flags=flags(p, targets="--target"))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from hexsim.cli.outputs import output_folder

    out = output_folder("--out", args.out)
    twice = next((url for i, url in enumerate(args.target) if url in args.target[:i]), None)
    if twice is not None:
        raise InputError("--target", f"{twice} is given twice")
    try:
        from hexsim.live.record_files import record_files
        from hexsim.live.replay_targets import check_sendable, served_model
        from hexsim.live.replayer import replay, run_async
    except ImportError as error:
        raise InputError(
            "replay", f"needs the live extra ({error.name} is missing): pip install 'hexsim[live]'"
        ) from None
    import dataclasses

    from hexsim.cli import setup
    from hexsim.experiment import Experiment
    from hexsim.metrics.overload import CONSEQUENCE, overloaded
    from hexsim.metrics.records import QueryRecord
    from hexsim.metrics.report import policy_summary, render_report, report_json, simulate_report
    from hexsim.metrics.summary import DEFAULT_SCALES
    from hexsim.progress import lazy_progress

    cluster_file, trace_file = setup.cluster_file(args), setup.trace_file(args)
    cluster = setup.cluster(args)
    trace = setup.trace(args)[: args.queries]
    setup.check_calls_fit(trace_file, trace, cluster)
    check_sendable(trace, str(trace_file))
    experiment = Experiment.create(
        cluster,
        trace,
        rates=(args.rate,),
        seeds=(args.seed,),
        slo_scale=args.slo_scale,
        arrivals=args.arrivals,
        cv=args.cv,
        base_slo_rule=args.base_slo,
    )
    queries = experiment.sample(args.rate, args.seed)
    model = run_async(served_model(args.target, args.model))
    name = args.label or ("vllm" if len(args.target) > 1 else "live")

    with record_files(out, name) as files, lazy_progress(err, f"replaying on {name}", len(queries)) as bar:

        def on_record(record) -> None:
            files.add(record)
            if isinstance(record, QueryRecord):
                bar.advance()

        result = run_async(
            replay(
                queries,
                args.target,
                model=model,
                slo=experiment.slo,
                label=name,
                seed=args.seed,
                time_scale=args.time_scale,
                timeout=args.timeout,
                on_record=on_record,
            )
        )

    records = result.records
    if experiment.base_slos:  # a mixed trace: the report counts each query against its workflow's SLO
        workflow = {q.id: q.workflow for q in queries}
        tagged = tuple(q._replace(workflow=workflow[q.query_id]) for q in records.queries)
        records = dataclasses.replace(records, queries=tagged)
    scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})
    rate, arrivals = described_arrivals(args)
    report_setup = {
        "cluster": cluster_file.name,
        "instances": len(cluster.instances),
        "trace": trace_file.name,
        "arrivals": arrivals,
        "seed": args.seed,
        "targets": list(args.target),
        "model": model,
        "time_scale": args.time_scale,
        "retries": result.retries,
        "resent": result.resent,
    }
    summaries = {name: policy_summary(records, experiment.bases, scales)}
    report = simulate_report(
        experiment.base_slo,
        args.slo_scale,
        summaries,
        report_setup,
        experiment.base_slo_rule,
        experiment.base_slos,
    )
    if args.json:
        print(report_json(report))
    else:
        render_report(report, console)
    said = err if args.json else console
    lines = [
        f"sent {len(records.calls)} calls for {model} to {', '.join(args.target)}"
        + (f" at time scale {args.time_scale:g}" if args.time_scale != 1 else ""),
        f"wrote {out}{os.sep}: queries_{name}.csv and calls_{name}.csv",
    ]
    if result.retries or result.resent:
        lines.append(
            f"after engine failures the gateway placed {result.retries} calls again and "
            f"{result.resent} broken streams were sent again"
        )
    for line in lines:
        said.print(line, soft_wrap=True, highlight=False, markup=False)
    for failure in result.failures:
        many = "" if failure.count == 1 else "s"
        of = f" of {failure.queries} quer{'y' if failure.queries == 1 else 'ies'}" if failure.what == "call" else ""
        err.print(
            f"hexsim: warning: {failure.count} {failure.what}{many}{of} failed at {failure.instance}: "
            f"{failure.kind}: {failure.message}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    if overloaded(records.queries):
        err.print(
            f"hexsim: warning: {name}: the targets cannot keep up with {rate}; {CONSEQUENCE}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
