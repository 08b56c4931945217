"""`hexsim profile import-splitwise`: the Splitwise perf-model CSV as hexsim measurement CSVs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-splitwise",
        help="convert the Splitwise perf-model CSV to hexsim measurement CSVs",
        description="Split the Splitwise perf-model CSV into one hexsim measurement CSV per (model, "
        "hardware, TP): each row gives a prefill iteration (prompt_time) and a decode iteration (token_time).",
    )
    p.add_argument("file", metavar="SPLITWISE.csv", help="Splitwise's perf-model CSV (splitwise_perf_model.csv)")
    p.add_argument(
        "--out-dir",
        required=True,
        metavar="DIR",
        help="folder for the CSVs, one per group, named MODEL_HARDWARE_tpN.csv (created if missing)",
    )
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from hexsim.cli.outputs import output_folder

    out = output_folder("--out-dir", args.out_dir)

    from hexsim.profiles.measurements import write_measurements
    from hexsim.profiles.splitwise import read_splitwise

    groups = read_splitwise(args.file)
    for (model, hardware, tp), rows in sorted(groups.items()):
        path = out / f"{model}_{hardware}_tp{tp}.csv"
        write_measurements(rows, path)
        console.print(f"{path}: {len(rows)} measurements", highlight=False)
