"""The emulator's /metrics: vLLM's gauges and counters, with the planner's state at scrape time."""

import asyncio
import threading
import time

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hexsim.live.emulated_engine import EmulatedEngine
from hexsim.live.emulator import emulator_in_thread
from hexsim.live.emulator_metrics import engine_registry
from hexsim.profiles.latency import IterationCoefficients, Profile

MODEL = "metrics-model"
NAMES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
)


def profile(base: float, seats: int) -> Profile:
    """Iterations of `base` seconds; 1,600 KV tokens (100 blocks of 16)."""
    return Profile(
        model=MODEL,
        gpu="A100-80GB",
        tp=1,
        coefficients=IterationCoefficients(
            base=base, prefill_token=0.0, prefill_token_sq=0.0, decode_seq=0.0, context_token=0.0
        ),
        kv_capacity_tokens=1600,
        max_num_seqs=seats,
        max_num_batched_tokens=1024,
    )


def samples(text: str) -> dict[str, float]:
    """Sample name -> value; every sample must carry vLLM's labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in NAMES:
                assert sample.labels == {"model_name": MODEL, "engine": "0"}, sample
                found[sample.name] = sample.value
    assert set(found) == set(NAMES)
    return found


async def first_step(prompts: list[int]) -> dict[str, float]:
    """The metrics once the engine has planned its first step for `prompts`, submitted at once."""
    engine = EmulatedEngine(profile(base=1000.0, seats=2))  # the first step never ends here
    registry = engine_registry(engine, MODEL)
    for prompt in prompts:
        engine.submit(prompt, 10)
    runner = asyncio.create_task(engine.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0)
            if engine.requests_running:
                break
        return samples(generate_latest(registry).decode())
    finally:
        runner.cancel()


def test_the_gauges_show_the_batch_the_queue_and_the_kv_cache():
    # Two seats: the first two prompts are admitted (7 + 13 of 100 KV blocks), three wait.
    found = asyncio.run(first_step([100, 200, 300, 50, 60]))
    assert found["vllm:num_requests_running"] == 2
    assert found["vllm:num_requests_waiting"] == 3
    assert found["vllm:kv_cache_usage_perc"] == pytest.approx(0.20)
    assert found["vllm:prompt_tokens_total"] == 0  # no first token yet
    assert found["vllm:generation_tokens_total"] == 0


def scrape(client: httpx.Client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_requests_that_arrive_during_a_step_wait_for_the_next_one():
    # Steps of 0.5 s and four seats: requests sent while the first one's prompt is computed wait
    # for the step to end, as in vLLM, although seats are free.
    with emulator_in_thread(profile(base=0.5, seats=4), MODEL) as url, httpx.Client(base_url=url) as client:
        answers: list[int] = []

        def send(prompt_tokens: int) -> None:
            body = {"model": MODEL, "prompt": [1] * prompt_tokens, "max_tokens": 2}
            answers.append(httpx.post(f"{url}/v1/completions", json=body, timeout=10).status_code)

        senders = [threading.Thread(target=send, args=(100,))]
        senders[0].start()
        deadline = time.monotonic() + 5
        while scrape(client)["vllm:num_requests_running"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        senders += [threading.Thread(target=send, args=(p,)) for p in (40, 60)]
        for sender in senders[1:]:
            sender.start()
        while (found := scrape(client))["vllm:num_requests_waiting"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert found["vllm:num_requests_running"] == 1
        assert found["vllm:kv_cache_usage_perc"] == pytest.approx(7 / 100)  # 100 prompt tokens: 7 blocks
        for sender in senders:
            sender.join(10)
        assert answers == [200, 200, 200]
        done = scrape(client)
    assert done["vllm:num_requests_running"] == done["vllm:num_requests_waiting"] == 0
    assert done["vllm:kv_cache_usage_perc"] == 0
    assert done["vllm:prompt_tokens_total"] == 100 + 40 + 60
    assert done["vllm:generation_tokens_total"] == 3 * 2


def test_each_emulator_counts_its_own_requests():
    fast = profile(base=0.001, seats=4)
    with emulator_in_thread(fast, MODEL) as one, emulator_in_thread(fast, MODEL) as other:
        with httpx.Client(base_url=one) as client:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "three short words"}], "max_tokens": 5}
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            first = scrape(client)
        with httpx.Client(base_url=other) as client:
            second = scrape(client)
    assert (first["vllm:prompt_tokens_total"], first["vllm:generation_tokens_total"]) == (3, 5)
    assert (second["vllm:prompt_tokens_total"], second["vllm:generation_tokens_total"]) == (0, 0)
