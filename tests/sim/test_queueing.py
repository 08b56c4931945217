"""The engine model against queueing theory, and continuous batching under overload."""

import numpy as np
import pytest

from tests.sim.helpers import cluster, profile, run, single_call_query


@pytest.mark.slow
def test_single_seat_instance_is_an_mg1_queue():
    # One seat, 10 ms per iteration, free prompts: a call's service time is 10 ms x its output
    # length. Geometric outputs (mean 100) make service nearly exponential (mean 1 s).
    rng = np.random.default_rng(0)
    n, rate, p = 100_000, 0.5, 0.01
    arrivals = np.cumsum(rng.exponential(1 / rate, n))
    outputs = rng.geometric(p, n)
    queries = [
        single_call_query(f"q{i}", float(t), 8, int(o)) for i, (t, o) in enumerate(zip(arrivals, outputs, strict=True))
    ]
    records = run(cluster(profile(prefill_token=0.0, max_num_seqs=1)), queries)

    mean_s = 0.01 / p
    second_moment = 0.0001 * (2 - p) / p**2
    rho = rate * mean_s
    pollaczek_khinchine = rate * second_moment / (2 * (1 - rho))
    mm1 = rho * mean_s / (1 - rho)
    assert pollaczek_khinchine == pytest.approx(mm1, rel=0.01)
    waits = np.array([c.queue_wait for c in records.calls])
    assert np.mean(waits) == pytest.approx(pollaczek_khinchine, rel=0.05)
    assert len(records.calls) == n and all(c.finished is not None for c in records.calls)

    # The same sample path through Lindley's recursion W[i+1] = max(0, W[i] + S[i] - A[i+1]):
    # the simulated waits are exact, not just right on average.
    service = 0.01 * outputs
    lindley = np.zeros(n)
    for i in range(n - 1):
        lindley[i + 1] = max(0.0, lindley[i] + service[i] - (arrivals[i + 1] - arrivals[i]))
    assert np.allclose(waits, lindley, rtol=0, atol=1e-6)


def test_more_seats_serve_more_calls_per_second_under_overload():
    # 384 calls arrive at once; each is one prompt iteration (10 ms, prompts are free) and 19
    # decode iterations of 10 ms + 0.1 ms per decoding sequence. With s seats the instance runs
    # batches of s, so throughput is s / (0.2 + 0.0019 s) calls/s: it grows with s.
    queries = [single_call_query(f"q{i}", 0.0, 64, 20) for i in range(384)]
    throughput = []
    for seats in (1, 4, 16, 64):
        records = run(cluster(profile(prefill_token=0.0, decode_seq=1e-4, max_num_seqs=seats)), queries)
        assert all(c.finished is not None for c in records.calls)
        throughput.append(len(records.calls) / records.makespan)
        assert throughput[-1] == pytest.approx(seats / (0.2 + 0.0019 * seats), rel=1e-9)
    assert all(later > 1.5 * earlier for earlier, later in zip(throughput, throughput[1:], strict=False))
