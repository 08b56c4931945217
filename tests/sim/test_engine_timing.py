"""Hand-computed timings of the engine model."""

import math

import pytest

from tests.sim.helpers import cluster, profile, run, single_call_query


@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(100, 1), (100, 50), (5000, 300), (20000, 7)])
def test_single_call_on_idle_instance_takes_standalone_time(input_tokens, output_tokens):
    p = profile(context_token=2e-7, decode_seq=1e-4, prefill_token_sq=3e-9, max_num_batched_tokens=2048)
    records = run(cluster(p), [single_call_query("q", 3.0, input_tokens, output_tokens)])
    (call,) = records.calls
    c = p.coefficients
    steps = output_tokens - 1
    by_hand = (
        math.ceil(input_tokens / 2048) * c.base
        + c.prefill_token * input_tokens
        + c.prefill_token_sq * input_tokens**2
        + steps * (c.base + c.decode_seq)
        + c.context_token * (steps * input_tokens + steps * (steps + 1) / 2)
    )
    assert call.finished - 3.0 == pytest.approx(by_hand, rel=1e-12)
    assert p.standalone_time(input_tokens, output_tokens) == pytest.approx(by_hand, rel=1e-12)
    assert call.admitted == 3.0


def test_call_arriving_mid_decode_waits_for_the_iteration_in_flight():
    # base 10 ms per iteration, 1 ms per prompt token, nothing else.
    p = profile()
    a = single_call_query("a", 0.0, 100, 1000)
    b = single_call_query("b", 0.555, 50, 2)
    records = run(cluster(p), [a, b])
    calls = {c.query_id: c for c in records.calls}
    # A's prompt: one iteration of 0.01 + 0.1 = 0.11 s; then decode iterations of 0.01 s each
    # end at 0.12, 0.13, ...: B arrives in the one that ends at 0.56 and is admitted then.
    assert calls["b"].admitted == pytest.approx(0.56, abs=1e-12)
    # B's prompt shares one iteration with A's decode: 0.01 + 50 * 0.001 = 0.06 s, then one
    # decode iteration of its own (0.01 s) finishes B.
    assert calls["b"].finished == pytest.approx(0.56 + 0.06 + 0.01, abs=1e-12)
    # A: 0.11 s prompt, 999 decode iterations, one of them stretched to 0.06 s by B's prompt.
    assert calls["a"].finished == pytest.approx(0.11 + 998 * 0.01 + 0.06, abs=1e-9)


def test_chunked_prefill_splits_prompt_by_token_budget():
    p = profile(max_num_batched_tokens=1000)
    records = run(cluster(p), [single_call_query("q", 0.0, 2500, 1)])
    # three iterations (1000, 1000, 500 tokens): 3 * base + 2500 * 1 ms.
    assert records.calls[0].finished == pytest.approx(3 * 0.01 + 2.5, rel=1e-12)
    assert records.instances[0].iterations == 3


def test_decoders_batch_together():
    # Two identical calls arriving together share every iteration: both finish when one would
    # alone, plus the second prompt's tokens in the first iteration.
    p = profile()
    queries = [single_call_query("a", 0.0, 100, 20), single_call_query("b", 0.0, 100, 20)]
    records = run(cluster(p), queries)
    finish = sorted(c.finished for c in records.calls)
    assert finish[0] == finish[1] == pytest.approx(0.01 + 0.2 + 19 * 0.01, rel=1e-12)
