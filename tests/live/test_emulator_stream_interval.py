"""Stream intervals: a handler wakes only for the chunks it sends, and the engine steps only as often as they need."""

import asyncio
import json

import httpx
import pytest

from hexsim.live.emulated_engine import EmulatedEngine
from hexsim.live.emulator import emulator_in_thread
from hexsim.profiles.latency import IterationCoefficients, Profile

MODEL = "interval-model"
# 1 ms iterations; a million KV tokens, so a lone request decodes in one stretch.
FAST = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.001, prefill_token=0.0, prefill_token_sq=0.0, decode_seq=0.0, context_token=0.0
    ),
    kv_capacity_tokens=1_000_000,
    max_num_batched_tokens=1024,
)
# The two-clocks scenario: 1,024 KV tokens and four seats, so running requests are preempted.
TIGHT = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.010, prefill_token=2e-5, prefill_token_sq=0.0, decode_seq=0.001, context_token=1e-6
    ),
    kv_capacity_tokens=1024,
    block_size=16,
    max_num_seqs=4,
    max_num_batched_tokens=512,
)
# (prompt tokens, output tokens, priority), all at once: the least urgent request is preempted twice.
CALLS = [(300, 200, 5), (200, 250, 1), (100, 300, 3), (250, 100, 0), (60, 150, 2)]


async def lone(interval: int | None, prompt_tokens: int, max_tokens: int) -> tuple[list[int], int]:
    """One request alone on an engine: the counts its handler woke with, and the engine steps it took."""
    engine = EmulatedEngine(FAST, time_scale=100.0)
    steps = 0
    finish = engine.planner.finish

    def counted(*args):
        nonlocal steps
        steps += 1
        return finish(*args)

    engine.planner.finish = counted
    runner = asyncio.create_task(engine.run())
    try:
        handle = engine.submit(prompt_tokens, max_tokens, interval=interval)
        wakes = [count async for count in engine.tokens(handle)]
    finally:
        runner.cancel()
    return wakes, steps


@pytest.mark.parametrize(
    ("interval", "max_tokens", "wakes", "steps"),
    [
        # Not streaming: one wake-up at the end; the prompt's step, then one decode stretch.
        (None, 500, [500], 2),
        # Every token: a step per token.
        (1, 6, [1, 2, 3, 4, 5, 6], 6),
        # The first token, then every 4th after it, then the last: a step (or stretch) per wake-up.
        (4, 10, [1, 5, 9, 10], 4),
        (4, 9, [1, 5, 9], 3),
        # An interval beyond the output: the first token and the last.
        (50, 10, [1, 10], 2),
    ],
)
def test_a_handler_wakes_only_for_the_chunks_it_sends(interval, max_tokens, wakes, steps):
    assert asyncio.run(lone(interval, 20, max_tokens)) == (wakes, steps)


async def scenario(interval: int | None) -> tuple[list[tuple[str, int]], list[list[int]]]:
    """The preempting scenario, every request streamed at `interval`: the engine's (event, request)
    sequence and each request's wake-up counts."""
    events: list = []
    engine = EmulatedEngine(TIGHT, "priority", time_scale=10.0, events=events)
    handles = [engine.submit(prompt, output, priority, interval) for prompt, output, priority in CALLS]
    runner = asyncio.create_task(engine.run())

    async def wakes(handle) -> list[int]:
        return [count async for count in engine.tokens(handle)]

    try:
        counts = await asyncio.wait_for(asyncio.gather(*(wakes(h) for h in handles)), timeout=30)
    finally:
        runner.cancel()
    return [(kind, handles.index(handle)) for _, kind, handle in events], counts


def test_the_stream_interval_changes_the_wake_ups_not_what_the_engine_does():
    baseline, ends = asyncio.run(scenario(None))
    assert [kind for kind, _ in baseline].count("preempt") == 2
    assert ends == [[output] for _, output, _ in CALLS]
    for interval in (1, 7):
        events, wakes = asyncio.run(scenario(interval))
        assert events == baseline
        for i, (_, output, _) in enumerate(CALLS):
            # Preempted and recomputed or not, a request wakes at token 1, 1 + k, 1 + 2k, ... and its last.
            assert wakes[i] == [*range(1, output, interval), output], (interval, i)


def chunks(url: str, path: str, body: dict) -> list[dict]:
    with httpx.Client(base_url=url, timeout=10) as client, client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def completion(max_tokens: int, **extra) -> dict:
    return {"model": MODEL, "prompt": "two words", "max_tokens": max_tokens, "stream": True} | extra


@pytest.fixture(scope="module")
def every_third():
    """An emulator started with --stream-interval 3."""
    with emulator_in_thread(FAST, MODEL, stream_interval=3) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def every_token():
    with emulator_in_thread(FAST, MODEL) as base_url:
        yield base_url


def test_a_request_s_stream_interval_sets_the_tokens_of_each_chunk(every_token):
    options = {"stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    data = chunks(every_token, "/v1/completions", completion(10, stream_interval=4) | options)
    *tokens, usage = data
    assert [c["choices"][0]["text"].count(" token") for c in tokens] == [1, 4, 4, 1]
    assert "".join(c["choices"][0]["text"] for c in tokens) == " token" * 10
    assert [c["usage"]["completion_tokens"] for c in tokens] == [1, 5, 9, 10]
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None, None, None, "length"]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 10


@pytest.mark.parametrize(("requested", "sizes"), [(None, [1, 3, 3, 3]), (2, [1, 3, 3, 3]), (5, [1, 5, 4])])
def test_the_server_s_stream_interval_is_a_floor(every_third, requested, sizes):
    extra = {} if requested is None else {"stream_interval": requested}
    data = chunks(every_third, "/v1/completions", completion(10, **extra))
    assert [c["choices"][0]["text"].count(" token") for c in data] == sizes


def test_a_chat_stream_sends_the_role_then_a_chunk_per_interval(every_third):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": True}
    role, *content = chunks(every_third, "/v1/chat/completions", body)
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"]["content"].count(" token") for c in content] == [1, 3, 3, 1]
    assert [c["choices"][0]["finish_reason"] for c in content] == [None, None, None, "length"]


def test_a_request_that_does_not_stream_ignores_its_stream_interval(every_third):
    with httpx.Client(base_url=every_third) as client:
        body = {"model": MODEL, "prompt": "a b c", "max_tokens": 7, "stream_interval": 2}
        answer = client.post("/v1/completions", json=body).json()
    assert answer["choices"][0]["text"] == " token" * 7
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10}
