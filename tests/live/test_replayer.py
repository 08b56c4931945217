"""The trace replayer against engine emulators and stub servers: what it sends, what it records, how it fails."""

import asyncio
import json
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import InputError, ParameterError
from hexsim.live.emulator import emulator_in_thread
from hexsim.live.emulator_app import Limits
from hexsim.live.prompts import Prompts
from hexsim.live.replay_targets import check_sendable, instance_name, served_model
from hexsim.live.replayer import replay, run_async
from hexsim.metrics.records import CallRecord, QueryRecord
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.scheduler.registry import get_policy
from hexsim.sim.simulate import simulate
from hexsim.workload.model import Call, Query, Segment, Stage

MODEL = "replayed-model"
# Iterations of 50 ms and more, decode steps of 55 ms: a call lasts tens of model seconds, so
# at a time scale of 100 or 200 it spans 100-300 ms of wall time, far above the few
# milliseconds a round trip through the HTTP stack costs.
PROFILE = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.050, prefill_token=1e-4, prefill_token_sq=0, decode_seq=0.005, context_token=1e-7
    ),
    kv_capacity_tokens=200_000,
    max_num_seqs=8,
    max_num_batched_tokens=2048,
)
SCALE = 200
TIMEOUT_S = 20.0
# Wall time a call of a replay may take beyond the engine's own: the round trip through httpx,
# uvicorn and starlette and the wake-ups of two event loops sharing one interpreter (measured
# 1.5-4 ms on a two-core machine), with room for a busy machine.
SLACK_WALL_S = 0.010


def stages(*groups: list[tuple[int, int]]) -> tuple[Stage, ...]:
    return tuple(Stage(tuple(Call(f"step{k}", i, o) for i, o in group)) for k, group in enumerate(groups))


def workflow(n: int, gap: float) -> list[Query]:
    """`n` queries `gap` model seconds apart: one call, three in parallel, one call."""
    shape = stages([(300, 5)], [(1500, 40), (1200, 60), (800, 20)], [(900, 10)])
    return [Query(f"q{i}", shape, arrival=i * gap) for i in range(n)]


def run(queries, targets, scale=SCALE, **settings):
    settings = {"model": MODEL, "slo": 100.0, "label": "live", "timeout": TIMEOUT_S} | settings
    return run_async(replay(queries, targets, time_scale=scale, **settings))


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the stub server did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def stub(seen: list, model: str = MODEL, extra_tokens: int = 0, stall: bool = False) -> Starlette:
    """A server that answers /v1/completions as vLLM does (first chunk, last chunk, usage, [DONE]),
    generating `extra_tokens` more than asked, or stalling after the first chunk; it notes in `seen`
    every completion (headers, body) and every finish notice (query id)."""

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model"}]})

    async def completions(request: Request) -> Response:
        body = json.loads(await request.body())
        seen.append(("call", dict(request.headers), body))
        n = body["max_tokens"] + extra_tokens

        async def events():
            yield "data: " + json.dumps({"choices": [{"index": 0, "text": " a", "finish_reason": None}]}) + "\n\n"
            if stall:
                await asyncio.sleep(30)
            yield "data: " + json.dumps({"choices": [{"index": 0, "text": " b", "finish_reason": "length"}]}) + "\n\n"
            usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": n, "total_tokens": 0}
            yield "data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def finish(request: Request) -> Response:
        seen.append(("finish", request.path_params["query"]))
        return JSONResponse({"error": {"message": "no such query", "type": "NotFoundError"}}, status_code=404)

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/queries/{query}/finish", finish, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as base_url:
        run(workflow(1, 0), [base_url])  # start-up work (lazy imports, first connections) outside the tests
        yield base_url


def by_stage(calls) -> dict:
    found = defaultdict(list)
    for call in calls:
        found[call.query_id, call.stage].append(call)
    return found


def test_every_call_is_recorded_once_and_each_stage_starts_after_the_previous_one_ends(url):
    queries = workflow(6, 3.0)
    recorded = []
    result = run(queries, [url], on_record=recorded.append)
    records = result.records
    # No failure: every stream ended with [DONE] and its usage counted the trace's prompt and output tokens.
    assert result.failures == ()
    expected = Counter((q.id, k, i) for q in queries for k, s in enumerate(q.stages) for i in range(len(s.calls)))
    assert Counter((c.query_id, c.stage, c.index) for c in records.calls) == expected
    assert sorted(q.query_id for q in records.queries) == sorted(q.id for q in queries)
    # Each record went to `on_record` as it was made, in the order of the run's records.
    assert [r for r in recorded if isinstance(r, CallRecord)] == list(records.calls)
    assert [r for r in recorded if isinstance(r, QueryRecord)] == list(records.queries)
    staged = by_stage(records.calls)
    for query in records.queries:
        source = next(q for q in queries if q.id == query.query_id)
        assert (query.arrival, query.slo, query.n_calls) == (source.arrival, 100.0, 4 + 1)
        assert staged[query.query_id, 0][0].ready >= query.arrival
        for k in range(1, 3):
            assert min(c.ready for c in staged[query.query_id, k]) >= max(
                c.finished for c in staged[query.query_id, k - 1]
            )
        assert query.finished == max(c.finished for c in staged[query.query_id, 2])
    for call in records.calls:
        assert call.ready <= call.first_token <= call.finished
        assert (call.instance, call.admitted, call.preemptions) == (instance_name(url), None, None)
        source = next(q for q in queries if q.id == call.query_id).stages[call.stage].calls[call.index]
        assert (call.step, call.input_tokens, call.output_tokens) == (
            source.step,
            source.input_tokens,
            source.output_tokens,
        )
    assert records.makespan == pytest.approx(max(q.finished for q in records.queries), abs=0.5)


def test_a_query_alone_on_an_idle_engine_takes_the_simulators_times():
    scale = 100
    query = Query("alone", stages([(2000, 400)], [(6000, 100), (500, 200)]), arrival=0.0)
    cluster = ClusterSpec(MODEL, (InstanceSpec("engine", PROFILE),))
    simulated = simulate(cluster, [query], get_policy("vllm"), 100.0).calls
    lone = simulated[0]
    # By hand: the first stage's call alone prefills its 2,000 tokens in one iteration, which
    # yields the first token, then decodes the other 399, one iteration each.
    assert lone.first_token - lone.ready == pytest.approx(0.050 + 2000 * 1e-4)
    assert lone.finished - lone.ready == pytest.approx(PROFILE.standalone_time(2000, 400))
    with emulator_in_thread(PROFILE, MODEL, time_scale=scale) as base_url:
        # Stalls of a shared machine only add time: the fastest of four replays (the first one
        # warms the emulator up) shows the pacing. Each with its own seed: its own token ids, so
        # the emulator's prefix cache holds nothing of the replays before.
        attempts = [run([query], [base_url], scale=scale, seed=attempt).records.calls for attempt in range(4)]
    for expected in simulated:
        replayed = [
            next(c for c in calls if (c.stage, c.index) == (expected.stage, expected.index)) for calls in attempts
        ]
        for moment in ("first_token", "finished"):
            wanted = getattr(expected, moment) - expected.ready
            fastest = min(getattr(c, moment) - c.ready for c in replayed)
            # uvloop's millisecond timers may end a sleep up to 1 ms (0.1 model s) early.
            assert wanted - 0.001 * scale <= fastest <= wanted + SLACK_WALL_S * scale, (expected, moment)


def test_two_targets_get_alternate_calls_in_the_order_they_are_sent():
    with (
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as first,
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as second,
    ):
        records = run(workflow(4, 2.0), [first, second]).records
    sent = sorted(records.calls, key=lambda c: (c.ready, c.index))
    names = [instance_name(first), instance_name(second)]
    assert [c.instance for c in sent] == [names[i % 2] for i in range(len(sent))]
    assert len(sent) == 4 * 5 and all(q.finished is not None for q in records.queries)


def test_replays_at_two_time_scales_agree_in_model_seconds():
    # Queries of about 40 model seconds, 10 apart: they overlap, and each lasts 200-400 ms of wall time.
    shape = stages([(1000, 300)], [(2000, 400), (1500, 300)])
    queries = [Query(f"q{i}", shape, arrival=10.0 * i) for i in range(3)]
    replays = {}
    for scale in (100, 200):
        with emulator_in_thread(PROFILE, MODEL, time_scale=scale) as base_url:
            # A warm-up of other token ids: nothing the replay sends is cached by it.
            run(workflow(1, 0), [base_url], scale=scale, seed=1)
            replays[scale] = run(queries, [base_url], scale=scale).records
    slow, fast = ({(c.query_id, c.stage, c.index): c for c in replays[scale].calls} for scale in (100, 200))
    assert slow.keys() == fast.keys()
    for key, call in slow.items():
        # Each stage up to the call's own adds the HTTP overhead once more, 200 times over at most.
        tolerance = (key[1] + 1) * SLACK_WALL_S * 200
        assert fast[key].first_token == pytest.approx(call.first_token, abs=tolerance), key
        assert fast[key].finished == pytest.approx(call.finished, abs=tolerance), key
    latencies = [{q.query_id: q.latency for q in replays[scale].queries} for scale in (100, 200)]
    assert all(latency > 35 for latency in latencies[0].values())
    for query, latency in latencies[0].items():
        assert latencies[1][query] == pytest.approx(latency, abs=2 * SLACK_WALL_S * 200)


def test_a_target_that_refuses_every_call_fails_every_query_without_hanging():
    # A 64-token context: every prompt of the workflow is too long, and vLLM answers 400.
    with emulator_in_thread(PROFILE, MODEL, time_scale=SCALE, limits=Limits(64)) as base_url:
        started = time.monotonic()
        result = run(workflow(5, 1.0), [base_url])
        assert time.monotonic() - started < 5
    records = result.records
    assert sorted(q.query_id for q in records.queries) == [f"q{i}" for i in range(5)]
    assert all(q.finished is None for q in records.queries)
    # The first stage fails: the later ones are never sent.
    assert sorted(c.query_id for c in records.calls) == [f"q{i}" for i in range(5)]
    assert all(c.stage == 0 and c.finished is None for c in records.calls)
    (failure,) = result.failures
    assert (failure.what, failure.instance, failure.kind) == ("call", instance_name(base_url), "HTTP 400")
    assert (failure.count, failure.queries) == (5, 5)
    assert "maximum context length is 64 tokens" in failure.message


def test_a_call_that_does_not_end_within_the_timeout_fails_its_query():
    seen = []
    with serving(stub(seen, stall=True)) as base_url:
        started = time.monotonic()
        result = run([Query("slow", stages([(10, 3)]), arrival=0.0)], [base_url], timeout=0.3)
        assert time.monotonic() - started < 3
    (call,) = result.records.calls
    assert call.first_token is not None and call.finished is None
    assert result.records.queries[0].finished is None
    (failure,) = result.failures
    assert (failure.kind, failure.message) == ("timeout", "no end within 0.3 s")


def test_a_call_whose_engine_generates_other_than_the_traces_tokens_fails():
    seen = []
    with serving(stub(seen, extra_tokens=-1)) as base_url:
        result = run([Query("short", stages([(10, 3)]), arrival=0.0)], [base_url])
    (failure,) = result.failures
    assert failure.kind == "length"
    assert failure.message == "the engine counted 10 prompt and 2 generated tokens, the trace 10 and 3"
    assert result.records.queries[0].finished is None


def test_each_call_carries_its_prompt_and_workflow_headers_and_each_query_is_announced_finished():
    seen = []
    query = Query("query 1", stages([(7, 3)], [(5, 2), (4, 1)]), arrival=0.0, slo=42.5)
    other = Query("q2", stages([(3, 1)]), arrival=0.0)
    with serving(stub(seen)) as base_url:
        result = run([query, other], [base_url], scale=50, slo=80.0, seed=3)
    assert result.failures == ()
    calls = [event[1:] for event in seen if event[0] == "call"]
    finishes = [e[1] for e in seen if e[0] == "finish"]
    assert sorted(finishes) == ["q2", "query 1"]
    # Each query is announced after its last call was sent.
    assert seen.index(("finish", "query 1")) > max(
        i for i, e in enumerate(seen) if e[0] == "call" and e[1]["x-hexsim-query"] == "query 1"
    )
    found = set()
    prompts = Prompts([query, other], seed=3)
    for headers, body in calls:
        qid, stage = headers["x-hexsim-query"], int(headers["x-hexsim-stage"])
        source = next(q for q in (query, other) if q.id == qid).stages[stage].calls
        # The prompt tells which call of the stage it is: each call's ids are its own.
        (index,) = [i for i in range(len(source)) if body["prompt"] == prompts.ids(qid, stage, i)]
        found.add((qid, stage, index))
        call = source[index]
        assert headers["x-hexsim-step"] == call.step
        assert body["model"] == MODEL
        assert (body["max_tokens"], body["stream_interval"]) == (call.output_tokens, call.output_tokens)
        assert body["ignore_eos"] is True and body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        # The SLO rides with the first stage only, in model seconds whatever the time scale.
        expected_slo = {"query 1": "42.5", "q2": "80.0"}[qid] if stage == 0 else None
        assert headers.get("x-hexsim-slo") == expected_slo
    assert found == {("query 1", 0, 0), ("query 1", 1, 0), ("query 1", 1, 1), ("q2", 0, 0)}


def test_with_several_targets_no_query_is_announced():
    seen_first, seen_second = [], []
    with serving(stub(seen_first)) as first, serving(stub(seen_second)) as second:
        result = run([Query("a", stages([(5, 1)], [(5, 1)]), arrival=0.0)], [first, second])
    assert result.failures == () and result.records.queries[0].finished is not None
    assert [event[0] for event in seen_first + seen_second] == ["call", "call"]


def test_calls_that_share_a_segment_send_its_ids_and_differ_right_after_it():
    seen = []
    template = (Segment("tpl", 40),)
    queries = [
        Query("a", (Stage((Call("step0", 100, 2, template), Call("step0", 60, 2, template))),), arrival=0.0),
        Query("b", (Stage((Call("step0", 45, 2, (*template, Segment("db", 5))),)),), arrival=0.0),
    ]
    with serving(stub(seen)) as base_url:
        result = run(queries, [base_url], seed=4)
    assert result.failures == ()
    prompts = sorted((body["prompt"] for _, body in (e[1:] for e in seen if e[0] == "call")), key=len)
    assert [len(p) for p in prompts] == [45, 60, 100]
    for one, two in [(0, 1), (0, 2), (1, 2)]:
        same = next(n for n, (x, y) in enumerate(zip(prompts[one], prompts[two], strict=False)) if x != y)
        assert same == 40  # the template's 40 ids, not one more


def test_the_model_is_the_one_every_target_serves_or_a_one_line_error_names_the_target(url):
    assert run_async(served_model([url], None)) == MODEL
    assert run_async(served_model([url], MODEL)) == MODEL
    with pytest.raises(ParameterError) as raised:
        run_async(served_model([url], "other-model"))
    assert (raised.value.parameter, raised.value.message) == (
        "model",
        f"'other-model': {url} does not serve it (it serves {MODEL})",
    )
    with serving(stub([], model="another")) as other:
        with pytest.raises(ParameterError) as raised:
            run_async(served_model([url, other], None))
    assert raised.value.message == f"{other} serves another but {url} serves {MODEL}: the targets must serve one model"
    with serving(Starlette()) as bare:
        with pytest.raises(ParameterError) as raised:
            run_async(served_model([url, bare], None))
    assert raised.value.message == f"{bare}: not an OpenAI-compatible server (GET /v1/models answered HTTP 404)"


def test_an_unreachable_target_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connections are refused
        with pytest.raises(ParameterError) as raised:
            run_async(served_model([closed], None))
    assert raised.value.parameter == "targets"
    assert raised.value.message.startswith(f"{closed}: cannot reach it (ConnectError")


def test_only_ids_and_steps_a_header_carries_unchanged_can_be_replayed():
    check_sendable([Query("q 1", stages([(1, 1)]))], "t.jsonl")
    for bad in ["requête", " q", "q\n2", "x" * 257]:
        with pytest.raises(InputError, match="cannot be sent in an X-Hexsim header"):
            check_sendable([Query(bad, stages([(1, 1)]))], "t.jsonl")


def test_the_instance_of_a_target_is_its_host_and_port():
    assert instance_name("http://10.0.0.5:8000/prefix") == "10.0.0.5:8000"
    assert instance_name("https://engine.example") == "engine.example:443"
    assert instance_name("http://[::1]:9000") == "[::1]:9000"
    assert urlsplit("http://engine").port is None and instance_name("http://engine") == "engine:80"


def test_behind_the_gateway_a_call_is_recorded_on_the_instance_that_answered_it():
    from hexsim.live.gateway import Gateway, GatewaySettings
    from hexsim.live.gateway_app import create_gateway_app
    from hexsim.live.server import app_in_thread
    from hexsim.scheduler.config import SchedulerConfig
    from hexsim.scheduler.template import default_template

    with (
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as first,
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as second,
    ):
        cluster = ClusterSpec(MODEL, (InstanceSpec("e0", PROFILE, first), InstanceSpec("e1", PROFILE, second)))
        settings = GatewaySettings(slo=1000.0, time_scale=SCALE, scrape_interval=0.05, stale_after=0.5)
        gateway = Gateway(cluster, SchedulerConfig(policy="lor"), default_template(), settings)
        with app_in_thread(create_gateway_app(gateway)) as url:
            records = run(workflow(3, 0.5), [url]).records
    # lor spreads a stage's three parallel calls over both engines; the gateway's address is no instance.
    assert len(records.calls) == 15
    assert {c.instance for c in records.calls} == {"e0", "e1"}
