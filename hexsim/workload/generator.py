"""Synthetic CHESS traces drawn from fitted workflow statistics."""

import numpy as np
from scipy.special import ndtr

from hexsim.workload.chess_stats import ChessWorkflowStats
from hexsim.workload.model import Call, Query, group_chess_stages


def generate_chess_trace(stats: ChessWorkflowStats, n_queries: int, rng: np.random.Generator) -> list[Query]:
    """`n_queries` queries `q0`, `q1`, ... with calls in execution order; no arrival times."""
    skeletons = [skeleton for skeleton, _ in stats.skeletons]
    weights = np.array([count for _, count in stats.skeletons], dtype=float)
    picks = rng.choice(len(skeletons), size=n_queries, p=weights / weights.sum())
    step_lists = [skeletons[pick].steps() for pick in picks]
    sizes = [len(steps) for steps in step_lists]
    steps = np.array([step for step_list in step_lists for step in step_list])

    # Gaussian copula: one latent per query correlates the input lengths of its calls.
    loading = np.sqrt(stats.input_correlation)
    latent = np.repeat(rng.standard_normal(n_queries), sizes)
    input_levels = ndtr(loading * latent + np.sqrt(1.0 - loading**2) * rng.standard_normal(steps.size))
    output_levels = rng.random(steps.size)

    inputs = np.zeros(steps.size)
    outputs = np.zeros(steps.size)
    for name in np.unique(steps):
        lengths = stats.steps[str(name)]
        mask = steps == name
        inputs[mask] = _inverse_cdf(lengths.input_quantiles, input_levels[mask])
        outputs[mask] = _inverse_cdf(lengths.output_quantiles, output_levels[mask])
    input_tokens = np.rint(inputs).astype(int).tolist()
    output_tokens = np.rint(outputs).astype(int).tolist()

    queries = []
    start = 0
    for index, step_list in enumerate(step_lists):
        calls = [Call(step, input_tokens[start + i], output_tokens[start + i]) for i, step in enumerate(step_list)]
        start += len(step_list)
        queries.append(Query(id=f"q{index}", stages=group_chess_stages(calls)))
    return queries


def _inverse_cdf(quantiles: tuple[float, ...], levels: np.ndarray) -> np.ndarray:
    return np.interp(levels, np.linspace(0.0, 1.0, len(quantiles)), quantiles)
