"""The gateway in front of engines it does not control: calls scheduled, forwarded, relayed and
accounted for exactly once, whatever the engines and clients do."""

import io
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from hexsim.live.call_body import GUESS_BLOCK_TOKENS, read_body
from tests.live.gateway_helpers import MODEL, FakeEngine, fake_engines, gateway_at, workflow

BODY = {"model": MODEL, "prompt": [7] * 300, "max_tokens": 16}


def post(url: str, headers: dict | None = None, body: dict = BODY, timeout: float = 20.0) -> httpx.Response:
    return httpx.post(f"{url}/v1/completions", json=body, headers=headers or {}, timeout=timeout)


def records(log: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def burst(url: str, n: int, **kwargs) -> list[httpx.Response]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: post(url, **kwargs), range(n)))


def test_a_workflow_runs_stage_by_stage_and_each_call_is_dispatched_admitted_and_ended_once():
    log = io.StringIO()
    engines = FakeEngine(delay=0.3), FakeEngine(delay=0.3)
    with fake_engines(*engines) as urls, gateway_at(urls, "lor", log) as (url, gateway):
        with ThreadPoolExecutor(2) as pool:
            first = list(pool.map(lambda _: post(url, workflow("q", "generate_candidate", 0, slo=80.0)), range(2)))
        second = post(url, workflow("q", "revise", 1))
        assert [r.status_code for r in (*first, second)] == [200, 200, 200]
        assert {r.headers["x-hexsim-instance"] for r in first} == {"a100-0", "a100-1"}  # lor: one each
        assert httpx.post(f"{url}/v1/queries/q/finish").json() == {"id": "q", "object": "query", "finished": True}
        assert gateway.queries == {}
    entries = records(log)
    kinds = Counter((e.get("event") or e.get("decision"), e.get("stage"), e.get("index")) for e in entries)
    for call in ((0, 0), (0, 1), (1, 0)):
        for kind in ("stage_ready", "dispatch", "admit", "call_started", "call_finished"):
            assert kinds[kind, *call] == 1, (kind, call)
    assert [e["slo"] for e in entries if e.get("event") == "query_arrived"] == [80.0]
    assert [e["event"] for e in entries if e.get("event", "").startswith("query")] == [
        "query_arrived",
        "query_finished",
    ]
    ready_1 = next(e["t"] for e in entries if e.get("event") == "stage_ready" and e["stage"] == 1)
    assert ready_1 >= max(e["t"] for e in entries if e.get("event") == "call_finished" and e["stage"] == 0)


def test_an_ordering_policy_sends_vllm_its_priority_and_others_forward_the_body_untouched():
    raw = json.dumps(BODY | {"priority": 5}).encode()
    for policy, expect_priority in (("hexgen", True), ("vllm", False)):
        log = io.StringIO()
        engine = FakeEngine()
        with fake_engines(engine) as urls, gateway_at(urls, policy, log) as (url, _):
            headers = {"content-type": "application/json"} | workflow("q", "revise", 0, slo=50.0)
            assert httpx.post(f"{url}/v1/completions", content=raw, headers=headers).status_code == 200
        admitted = next(e for e in records(log) if e.get("decision") == "admit")
        if expect_priority:
            assert json.loads(engine.bodies[0])["priority"] == admitted["priority"] > 0
            assert json.loads(engine.bodies[0]) | {"priority": 5} == json.loads(raw)
        else:
            assert engine.bodies == [raw]


def test_a_stream_reaches_the_client_byte_for_byte():
    chunks = (b'data: {"a": 1}\n\n', b"data: \xc3\xa9\xe2\x82\xac\n\n", b": comment\n\n", b"data: [DONE]\n\n")
    with fake_engines(FakeEngine(chunks, gap=0.01)) as urls, gateway_at(urls, "vllm") as (url, _):
        with httpx.stream("POST", f"{url}/v1/completions", json=BODY | {"stream": True}) as response:
            received = b"".join(response.iter_raw())
            assert response.headers["content-type"] == "text/event-stream"
    assert received == b"".join(chunks)


def test_a_client_that_leaves_a_stream_closes_the_request_to_the_engine():
    engine = FakeEngine(tuple(b"data: x\n\n" for _ in range(100)), gap=0.1)
    with fake_engines(engine) as urls, gateway_at(urls, "vllm") as (url, gateway):
        with httpx.stream("POST", f"{url}/v1/completions", json=BODY | {"stream": True}, timeout=10) as response:
            next(response.iter_raw())
        assert engine.gone.wait(5.0), "the engine's request stayed open"
        wait_for(lambda: gateway.outcomes.counts[MODEL, "abandoned"] == 1)
        core = gateway.adapters[MODEL].seam.core
        assert (core.instances[0].in_flight, gateway.engines[0].in_flight, gateway.queries) == (0, 0, {})


def test_a_burst_is_balanced_by_counts_the_core_updates_before_the_next_request_is_read():
    engines = FakeEngine(delay=1.0), FakeEngine(delay=1.0)
    with fake_engines(*engines) as urls, gateway_at(urls, "lor") as (url, _):
        assert all(r.status_code == 200 for r in burst(url, 24))
    assert [len(e.bodies) for e in engines] == [12, 12]


def test_requests_an_engine_holds_for_others_count_as_its_load():
    busy, idle = FakeEngine(delay=1.0), FakeEngine(delay=1.0)
    busy.running, busy.waiting = 4, 2  # six requests the gateway did not send
    # One scrape only: a scrape during the burst may catch a call in transit, which the gateway
    # then counts against the foreign six (the safe side of the race, but not this test's subject).
    once = {"scrape_interval": 60.0, "stale_after": 120.0}
    with fake_engines(busy, idle) as urls, gateway_at(urls, "lor", **once) as (url, gateway):
        wait_for(lambda: gateway.adapters[MODEL].seam.core.instances[0].foreign == 6)
        burst(url, 8)
    # lor: the idle engine takes calls until it holds six too; then the tie goes to the first.
    assert [len(busy.bodies), len(idle.bodies)] == [1, 7]


def test_an_engine_with_stale_metrics_gets_no_calls_until_they_are_fresh_again():
    sick, healthy = FakeEngine(), FakeEngine()
    with fake_engines(sick, healthy) as urls, gateway_at(urls, "vllm") as (url, gateway):
        sick.metrics_up = False
        wait_for(lambda: not gateway.engines[0].room)
        health = httpx.get(f"{url}/health").json()
        assert health["engines"]["a100-0"].startswith("saturated") and health["engines"]["a100-1"] == "ok"
        burst(url, 6)
        assert (len(sick.bodies), len(healthy.bodies)) == (0, 6)
        sick.metrics_up = True
        wait_for(lambda: gateway.engines[0].room)
        burst(url, 6)
        assert (len(sick.bodies), len(healthy.bodies)) == (3, 9)


def test_with_every_engine_saturated_a_call_waits_for_one_to_come_back():
    engine = FakeEngine()
    engine.metrics_up = False
    with fake_engines(engine) as urls, gateway_at(urls, "vllm") as (url, gateway):
        assert httpx.get(f"{url}/health").status_code == 503
        answer: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answer.append(post(url)))
        sender.start()
        time.sleep(0.5)
        assert not answer and not engine.bodies
        engine.metrics_up = True
        sender.join(10)
        assert answer[0].status_code == 200 and len(engine.bodies) == 1


def test_an_engine_error_reaches_the_client_and_fails_the_call():
    engine = FakeEngine()
    engine.status = 400
    with fake_engines(engine) as urls, gateway_at(urls, "vllm") as (url, gateway):
        response = post(url, workflow("q", "revise", 0))
        assert response.status_code == 400 and response.json()["error"]["message"] == "refused"
        assert gateway.outcomes.counts[MODEL, "failed"] == 1
        assert gateway.adapters[MODEL].seam.core.instances[0].in_flight == 0


def test_an_engine_that_stopped_answering_is_a_502_naming_it():
    with ExitStack() as engine_running:
        [engine_url] = engine_running.enter_context(fake_engines(FakeEngine()))
        # Its last metrics stay fresh for a minute and it is never taken out: calls still go there.
        with gateway_at([engine_url], "vllm", stale_after=60.0, trip_after=1000) as (url, gateway):
            wait_for(lambda: gateway.engines[0].room)
            engine_running.close()
            response = post(url)
            assert gateway.engines[0].retried == gateway.settings.retries  # placed again, on itself
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == 502 and "a100-0" in error["message"] and engine_url in error["message"]


def test_a_stage_out_of_order_is_refused_naming_the_header():
    with fake_engines(FakeEngine()) as urls, gateway_at(urls, "vllm") as (url, _):
        assert post(url, workflow("q", "revise", 0)).status_code == 200
        response = post(url, workflow("q", "revise", 2))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "X-Hexsim-Stage: query 'q' is at stage 0, got stage 2"


def test_an_idle_query_is_closed_and_its_id_opens_a_new_one_later():
    log = io.StringIO()
    with fake_engines(FakeEngine()) as urls, gateway_at(urls, "vllm", log, idle_timeout=0.2) as (url, gateway):
        assert post(url, workflow("q", "revise", 0)).status_code == 200
        wait_for(lambda: not gateway.queries)
        assert httpx.post(f"{url}/v1/queries/q/finish").status_code == 404
        assert post(url, workflow("q", "revise", 0)).status_code == 200
    events = [e["event"] for e in records(log) if e.get("event", "").startswith("query")]
    assert events[:3] == ["query_arrived", "query_finished", "query_arrived"]


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/completions/x"])
def test_an_unknown_path_is_a_404_in_openai_shape(path):
    with fake_engines(FakeEngine()) as urls, gateway_at(urls, "vllm") as (url, _):
        response = httpx.post(f"{url}{path}", json=BODY)
    assert response.status_code == 404 and response.json()["error"]["code"] == 404


def test_the_scheduler_learns_what_each_engine_caches_from_the_prompts_it_sent_there():
    engines = FakeEngine(), FakeEngine()
    g = GUESS_BLOCK_TOKENS
    with fake_engines(*engines) as urls, gateway_at(urls, "vllm") as (url, gateway):
        schema = list(range(1000, 1000 + 2 * g))  # two full guess blocks of token ids
        for own in (1, 2):  # round robin over the two engines: a100-0, then a100-1
            assert post(url, body=BODY | {"prompt": schema + [own] * (g // 2)}).status_code == 200
        text = "the schema " * (g // 2)  # 5.5 g characters: five blocks of 4 g characters, g tokens each
        assert post(url, body=BODY | {"prompt": text * 4 + "first question"}).status_code == 200
        instances = gateway.adapters[MODEL].seam.core.instances
        probe = read_body(json.dumps({"model": MODEL, "prompt": schema + [9] * 2 * g}).encode(), chat=False).prefix
        text_probe = read_body(json.dumps({"model": MODEL, "prompt": text * 4 + "other"}).encode(), chat=False).prefix
        assert [inst.prefixes.cached_tokens(probe) for inst in instances] == [2 * g, 2 * g]
        assert [inst.prefixes.cached_tokens(text_probe) for inst in instances] == [5 * g, 0]  # third call: a100-0
