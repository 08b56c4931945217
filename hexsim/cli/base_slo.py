"""The --base-slo option of the commands that report against an SLO; light enough for --help."""

import argparse

from hexsim.defaults import BASE_SLO_RULES, DEFAULT_BASE_SLO


def add_base_slo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--base-slo",
        choices=BASE_SLO_RULES,
        default=DEFAULT_BASE_SLO,
        help="what SLO scales multiply: 'trace', the mean standalone latency of the trace's queries on the "
        "cluster's instances, or 'chess', the paper's standard CHESS workflow alone (default "
        f"{DEFAULT_BASE_SLO})",
    )
