"""Tuning speed: 100 Optuna trials on the paper's cluster with a published CHESS trace, 2 workers.

    python benchmarks/bench_tune.py [--trials 100] [--jobs 2] [--trace FILE]

Each trial simulates the trace at 0.03 queries/s over 3 seeds. Reports wall time and trials/s.
"""

import argparse
import tempfile
import time
from pathlib import Path

import optuna

from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.resources import default_cluster, default_trace
from hexsim.tune.runner import TuneSetup, tune
from hexsim.workload.traces import load_trace

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traces" / "chess_bird_trace1.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trace", type=Path, default=SHARED if SHARED.is_file() else default_trace())
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = Experiment.create(
        load_cluster(default_cluster()),
        load_trace(args.trace),
        base_slo_rule="chess",
        rates=(0.03,),
        seeds=(0, 1, 2),
        slo_scale=2.0,
    )
    with tempfile.TemporaryDirectory() as folder:
        storage = f"journal:{Path(folder) / 'bench.log'}"
        start = time.perf_counter()
        study = tune(TuneSetup(setup, args.trials, jobs=args.jobs, storage=storage, study_name="bench"))
        wall = time.perf_counter() - start
        best_value, best_params = study.best_value, study.best_params
    print(
        f"{args.trials} trials of {args.trace.name} x 3 seeds, {args.jobs} worker processes: {wall:.1f} s wall, "
        f"{args.trials / wall:.2f} trials/s, best attainment {best_value:.3f} ({best_params})"
    )


if __name__ == "__main__":
    main()
