"""The engine emulator over HTTP: vLLM's request and stream shapes, and timing that follows the profile."""

import asyncio
import itertools
import json
import time
from dataclasses import replace

import httpx
import pytest
from scipy.stats import theilslopes

from hexsim.live.emulator import emulator_in_thread
from hexsim.profiles.latency import IterationCoefficients, Profile

MODEL = "emulated-model"
# Iterations of 10-40 ms: scheduling jitter of a millisecond or two is small beside them.
PROFILE = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.010, prefill_token=2e-5, prefill_token_sq=1e-9, decode_seq=0.002, context_token=4e-6
    ),
    kv_capacity_tokens=1_000_000,
    max_num_seqs=2,
    max_num_batched_tokens=1024,
)
FIRST_IDS = itertools.count(1000)
LATENCY_SLACK_S = 0.010  # the HTTP round trip and the last sleep's overshoot
# One seat and priority scheduling: waiting requests are admitted by (priority, arrival).
ONE_SEAT = replace(PROFILE, max_num_seqs=1, kv_capacity_tokens=4096)


@pytest.fixture(scope="module")
def priority_url():
    with emulator_in_thread(ONE_SEAT, MODEL, scheduling="priority") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL) as base_url:
        asyncio.run(streams(base_url, (16, 2)))  # start-up work (lazy imports) outside the timed tests
        yield base_url


def body(prompt, max_tokens: int, **extra) -> dict:
    return {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "min_tokens": max_tokens} | extra


def fresh_prompt(tokens: int) -> list[int]:
    """A prompt no earlier request began with, so the prefix cache holds none of it."""
    return [next(FIRST_IDS)] + [7] * (tokens - 1)


async def stream(client: httpx.AsyncClient, prompt_tokens: int, max_tokens: int) -> tuple[float, list[float], float]:
    """Send one streaming request with a fresh prompt; (time sent, arrival time of each token, time of [DONE])."""
    request = body(fresh_prompt(prompt_tokens), max_tokens, ignore_eos=True, stream=True)
    sent = time.perf_counter()
    arrivals = []
    async with client.stream("POST", "/v1/completions", json=request) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.perf_counter())
    return sent, arrivals, time.perf_counter()


async def streams(base_url: str, *requests: tuple[int, int]) -> list[tuple[float, list[float], float]]:
    """Send (prompt tokens, max tokens) requests at once, over connections opened beforehand."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        await asyncio.gather(*(stream(client, 1, 1) for _ in requests))
        return await asyncio.gather(*(stream(client, p, o) for p, o in requests))


@pytest.mark.parametrize(
    ("prompt_tokens", "output_tokens"),
    [(50, 1), (300, 20), (2500, 12)],  # 2500 tokens: three chunks of the 1024-token budget
)
def test_a_lone_request_takes_its_standalone_time(url, prompt_tokens, output_tokens):
    # No attempt may be faster than the profile; stalls of the shared machine only add time,
    # so the fastest of five shows the emulator's pacing.
    attempts = [asyncio.run(streams(url, (prompt_tokens, output_tokens)))[0] for _ in range(5)]
    assert all(len(arrivals) == output_tokens for _, arrivals, _ in attempts)
    expected = PROFILE.standalone_time(prompt_tokens, output_tokens)
    latencies = [done - sent for sent, _, done in attempts]
    assert expected - 0.001 <= min(latencies) <= expected + LATENCY_SLACK_S
    first_token = PROFILE.prefill_time(prompt_tokens)
    first_tokens = [arrivals[0] - sent for sent, arrivals, _ in attempts]
    assert first_token - 0.001 <= min(first_tokens) <= first_token + LATENCY_SLACK_S


def test_the_stream_is_well_formed(url):
    with httpx.Client(base_url=url) as client:
        request = body("four words of prompt", 5, stream=True, stream_options={"include_usage": True})
        with client.stream("POST", "/v1/completions", json=request) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    tokens, (usage,) = chunks[:-1], chunks[-1:]
    assert len(tokens) == 5
    for i, chunk in enumerate(tokens, start=1):
        assert chunk["object"] == "text_completion" and chunk["model"] == MODEL
        (choice,) = chunk["choices"]
        assert choice["text"] == " token" and choice["index"] == 0
        assert choice["finish_reason"] == ("length" if i == 5 else None)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}


def test_continuous_usage_counts_the_tokens_streamed_so_far(url):
    request = body([1, 2, 3], 4, stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True})
    with httpx.Client(base_url=url) as client, client.stream("POST", "/v1/completions", json=request) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert [c["usage"]["completion_tokens"] for c in chunks] == [1, 2, 3, 4, 4]
    assert {c["usage"]["prompt_tokens"] for c in chunks} == {3}


def test_a_non_streaming_request_returns_the_whole_completion(url):
    with httpx.Client(base_url=url) as client:
        response = client.post("/v1/completions", json=body("a b", 3, ignore_eos=True))
        models = client.get("/v1/models").json()
        health = client.get("/health")
    assert response.status_code == 200
    completion = response.json()
    (choice,) = completion["choices"]
    assert choice["text"] == " token token token" and choice["finish_reason"] == "length"
    assert completion["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert [m["id"] for m in models["data"]] == [MODEL]
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("request_body", "status", "needle"),
    [
        ({"model": MODEL, "max_tokens": 4}, 400, "prompt is required"),
        (body("x y", -1), 400, "max_tokens"),
        (body("x y", 4) | {"min_tokens": 5}, 400, "min_tokens"),
        (body(["a", "b"], 4), 400, "list of token ids"),
        (body("", 4), 400, "must not be empty"),
        (body("x", 4) | {"stream_options": {"include_usage": True}}, 400, "stream=True"),
        (body("x", 4) | {"model": "other"}, 404, "does not exist"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_a_bad_request_gets_an_openai_style_error(url, request_body, status, needle):
    with httpx.Client(base_url=url) as client:
        response = client.post("/v1/completions", json=request_body)
    assert response.status_code == status
    error = response.json()["error"]
    assert needle in error["message"]
    assert error["code"] == status


def test_invalid_json_gets_400(url):
    with httpx.Client(base_url=url) as client:
        response = client.post("/v1/completions", content=b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_two_requests_share_decode_iterations(url):
    prompt_tokens, output_tokens, lo, hi = 500, 60, 10, 50
    (_, a, _), (_, b, _) = asyncio.run(streams(url, *[(prompt_tokens, output_tokens)] * 2))
    c = PROFILE.coefficients
    # Tokens lo+1..hi of both come from shared iterations, each attending to the prompt and the tokens so far.
    shared = c.base + 2 * c.decode_seq + c.context_token * 2 * (prompt_tokens + (lo + hi - 1) / 2)
    alone = c.base + c.decode_seq + c.context_token * (prompt_tokens + (lo + hi - 1) / 2)
    for arrivals in (a, b):
        # The median pairwise slope: a token read late by a stalled client thread does not pull it.
        interval = theilslopes(arrivals[lo - 1 : hi])[0]
        assert interval == pytest.approx(shared, abs=0.0005)
    assert shared < 1.5 * alone  # sharing, not taking turns


def test_a_request_beyond_max_num_seqs_waits_for_a_seat(url):
    *seated, waiting = sorted(arrivals for _, arrivals, _ in asyncio.run(streams(url, *[(20, 5)] * 3)))
    # Two seats: the third request starts its prompt when the first of the others finishes.
    assert waiting[0] > min(arrivals[-1] for arrivals in seated)
    assert max(arrivals[0] for arrivals in seated) < min(arrivals[-1] for arrivals in seated)


async def first_tokens_in_turn(base_url: str, requests: list[tuple[str, int]]) -> list[str]:
    """Names in the order their first tokens came: `requests` (name, priority) are sent one after
    another while a long request holds the only seat."""
    firsts: dict[str, float] = {}

    async def send(client: httpx.AsyncClient, name: str, priority: int, max_tokens: int) -> None:
        request = body([7] * 20, max_tokens, ignore_eos=True, stream=True, priority=priority)
        async with client.stream("POST", "/v1/completions", json=request) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: {") and name not in firsts:
                    firsts[name] = time.perf_counter()

    async with httpx.AsyncClient(base_url=base_url) as client:
        holder = asyncio.create_task(send(client, "holder", 0, 40))  # 40 iterations of ~12 ms
        while "holder" not in firsts:
            await asyncio.sleep(0.005)
        waiting = []
        for name, priority in requests:
            waiting.append(asyncio.create_task(send(client, name, priority, 2)))
            await asyncio.sleep(0.02)  # distinct arrival times, all well before the holder ends
        await asyncio.wait_for(asyncio.gather(holder, *waiting), timeout=20)
    return sorted((n for n in firsts if n != "holder"), key=firsts.get)


def test_priority_scheduling_admits_waiting_requests_by_priority_then_arrival(priority_url):
    order = asyncio.run(first_tokens_in_turn(priority_url, [("b", 5), ("c", 1), ("d", 3), ("e", 1), ("f", -2)]))
    assert order == ["f", "c", "e", "d", "b"]


def test_fcfs_scheduling_refuses_a_priority_like_vllm(url):
    with httpx.Client(base_url=url) as client:
        response = client.post("/v1/completions", json=body("a b", 3, priority=2))
        zero = client.post("/v1/completions", json=body("a b", 3, priority=0))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Got priority 2 but Priority scheduling is not enabled."
    assert zero.status_code == 200


def test_the_context_length_refuses_a_prompt_that_fills_it_and_shortens_an_output_that_would_not_fit(priority_url):
    # vLLM 0.33: a prompt of the whole context or a max_tokens past it is refused; a max_tokens that
    # does not fit beside the prompt is shortened to what does.
    with httpx.Client(base_url=priority_url) as client:
        context = client.get("/v1/models").json()["data"][0]["max_model_len"]
        too_long = client.post("/v1/completions", json=body([1] * context, 1))
        too_many = client.post("/v1/completions", json=body([1], context + 1))
        shortened = client.post("/v1/completions", json=body([1] * (context - 3), 4, min_tokens=0))
    assert context == ONE_SEAT.kv_capacity_tokens
    assert too_long.status_code == too_many.status_code == 400
    assert too_long.json()["error"]["message"].startswith(
        f"This model's maximum context length is {context} tokens. However, your prompt contains {context} input"
    )
    assert too_many.json()["error"]["message"].startswith(f"max_tokens={context + 1} cannot be greater than")
    assert shortened.status_code == 200 and shortened.json()["usage"]["completion_tokens"] == 3
