"""The gateway when engines fail or it is overloaded: calls placed again, engines taken out and
back, refusals with Retry-After, and its API key."""

import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx

from hexsim.live.server import app_in_thread
from tests.live.gateway_helpers import MODEL, FakeEngine, fake_engines, gateway_at
from tests.live.test_gateway import BODY, burst, post, wait_for


def metric(url: str, line_start: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return float(next(line for line in text.splitlines() if line.startswith(line_start)).split()[-1])


def test_a_call_whose_engine_is_gone_is_placed_on_another_and_answered_once():
    healthy = FakeEngine()
    with ExitStack() as dead_running, fake_engines(healthy) as [healthy_url]:
        [dead_url] = dead_running.enter_context(fake_engines(FakeEngine()))
        # lor sends the first call to a100-0, the dead one, whose metrics stay fresh for a minute.
        with gateway_at([dead_url, healthy_url], "lor", stale_after=60.0, trip_after=1000) as (url, gateway):
            wait_for(lambda: all(e.room for e in gateway.engines))
            dead_running.close()
            response = post(url)
            assert response.status_code == 200
            assert (response.headers["x-hexsim-instance"], response.headers["x-hexsim-retries"]) == ("a100-1", "1")
            assert len(healthy.bodies) == 1
            assert metric(url, 'hexsim_engine_retries_total{instance="a100-0"}') == 1
            assert metric(url, 'hexsim_engine_dispatches_total{instance="a100-1"}') == 1
            assert gateway.outcomes.counts[MODEL, "finished"] == 1


def test_a_5xx_answer_is_placed_again_and_the_client_sees_only_the_good_one():
    failing, good = FakeEngine(), FakeEngine()
    failing.status = 500
    with fake_engines(failing, good) as urls, gateway_at(urls, "lor", trip_after=1000) as (url, gateway):
        wait_for(lambda: all(e.room for e in gateway.engines))
        response = post(url)
    assert response.status_code == 200 and response.headers["x-hexsim-retries"] == "1"
    assert (len(failing.bodies), len(good.bodies)) == (1, 1)


def test_a_stream_that_breaks_off_ends_with_an_error_event_and_is_not_sent_again():
    chunks = (b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b"data: [DONE]\n\n")
    breaking, other = FakeEngine(chunks, break_after=1), FakeEngine(chunks)
    with fake_engines(breaking, other) as urls, gateway_at(urls, "lor", trip_after=1000) as (url, gateway):
        wait_for(lambda: all(e.room for e in gateway.engines))
        response = post(url, body=BODY | {"stream": True})
        assert gateway.outcomes.counts[MODEL, "broken"] == 1
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e]
    assert events[0] == 'data: {"n": 1}' and '"code": 502' in events[1] and "broke off" in events[1]
    assert len(events) == 2 and not other.bodies


def test_an_engine_that_keeps_failing_is_taken_out_and_used_again_once_it_answers():
    engine = FakeEngine()
    with ExitStack() as running, fake_engines(FakeEngine()) as [other_url]:
        engine_url = running.enter_context(app_in_thread(engine.app()))
        port = urlsplit(engine_url).port
        with gateway_at([engine_url, other_url], "lor", stale_after=60.0) as (url, gateway):
            wait_for(lambda: all(e.room for e in gateway.engines))
            running.close()
            wait_for(lambda: not gateway.engines[0].up)  # its scrapes fail: taken out
            assert metric(url, 'hexsim_engine_up{instance="a100-0"}') == 0
            assert {post(url).headers["x-hexsim-instance"] for _ in range(3)} == {"a100-1"}
            with app_in_thread(engine.app(), port=port):
                wait_for(lambda: gateway.engines[0].up)
                burst(url, 4)
                assert len(engine.bodies) >= 1  # lor: the idle engine that came back gets calls


def test_with_every_engine_down_a_call_gets_503_with_retry_after_at_once():
    with ExitStack() as running:
        urls = running.enter_context(fake_engines(FakeEngine(), FakeEngine()))
        with gateway_at(urls, "lor", retry_after=7) as (url, gateway):
            wait_for(lambda: all(e.room for e in gateway.engines))
            running.close()
            wait_for(lambda: not any(e.up for e in gateway.engines))
            began = time.monotonic()
            response = post(url)
            assert time.monotonic() - began < 1.0
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert "no engine serving" in response.json()["error"]["message"]


def test_a_call_no_engine_can_take_gets_503_when_its_placement_deadline_passes():
    engine = FakeEngine()
    engine.metrics_up = False  # up, but saturated: calls wait for room
    with fake_engines(engine) as urls, gateway_at(urls, "vllm", place_timeout=0.5) as (url, gateway):
        began = time.monotonic()
        response = post(url)
        waited = time.monotonic() - began
        assert gateway.waiting == 0 and not gateway.adapters[MODEL].seam.core.instances[0].held
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert 0.5 <= waited < 2.0 and not engine.bodies
    assert "within 0.5 s" in response.json()["error"]["message"]


def test_a_burst_past_the_queue_bound_gets_429_for_the_excess_and_service_for_the_rest():
    engine = FakeEngine(delay=2.0)  # long beside the burst's spread: every call arrives while five run
    # Five calls run at a time, four may wait: of 25 at once, 9 are served and 16 refused.
    with fake_engines(engine) as urls, gateway_at(urls, "vllm", max_running=5, max_queued=4) as (url, gateway):
        wait_for(lambda: gateway.engines[0].room)
        answers = burst(url, 25)
        later = post(url)
        assert gateway.waiting == 0
    assert sorted(r.status_code for r in answers) == [200] * 9 + [429] * 16
    assert all(r.headers["retry-after"] == "1" for r in answers if r.status_code == 429)
    assert later.status_code == 200  # the bound is on waiting calls, not on calls ever


def test_with_an_api_key_every_endpoint_but_health_wants_it():
    with fake_engines(FakeEngine()) as urls, gateway_at(urls, "vllm", api_key="s3cret") as (url, gateway):
        wait_for(lambda: gateway.engines[0].room)
        assert httpx.get(f"{url}/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            answer = post(url, headers)
            assert answer.status_code == 401 and answer.json()["error"]["type"] == "AuthenticationError"
            assert httpx.get(f"{url}/metrics", headers=headers).status_code == 401
            assert httpx.get(f"{url}/v1/models", headers=headers).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert post(url, good).status_code == 200
        assert httpx.get(f"{url}/metrics", headers=good).status_code == 200


def test_a_stream_that_breaks_off_before_its_first_bytes_is_placed_again():
    chunks = (b'data: {"n": 1}\n\n', b"data: [DONE]\n\n")
    breaking, other = FakeEngine(chunks, break_after=0), FakeEngine(chunks)
    with fake_engines(breaking, other) as urls, gateway_at(urls, "lor", trip_after=1000) as (url, gateway):
        wait_for(lambda: all(e.room for e in gateway.engines))
        response = post(url, body=BODY | {"stream": True})
    assert response.status_code == 200 and response.headers["x-hexsim-retries"] == "1"
    assert response.text == b"".join(chunks).decode() and len(other.bodies) == 1
