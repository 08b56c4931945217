"""What the gateway reads of a request: workflow headers, the call's size, and an engine's metrics."""

import json

import pytest

from hexsim.live.call_body import BodyError, read_body
from hexsim.live.engine_metrics import MetricsError, read_engine_load
from hexsim.live.headers import SINGLE_STEP, HeaderError, Workflow, read_workflow


def test_a_workflow_call_names_its_query_step_stage_and_slo():
    headers = {"x-hexsim-query": "q-17", "x-hexsim-step": "revise", "x-hexsim-stage": " 4 ", "x-hexsim-slo": "114.5"}
    assert read_workflow(headers) == Workflow("q-17", "revise", 4, 114.5)
    assert read_workflow({}) == Workflow(None, SINGLE_STEP, 0, None)
    assert read_workflow({"x-hexsim-step": "evaluate"}) == Workflow(None, "evaluate", 0, None)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x-hexsim-query": "q", "x-hexsim-stage": "0"}, "X-Hexsim-Step is required with X-Hexsim-Query"),
        ({"x-hexsim-query": "q", "x-hexsim-step": "s"}, "X-Hexsim-Stage is required with X-Hexsim-Query"),
        ({"x-hexsim-query": "q", "x-hexsim-step": "s", "x-hexsim-stage": "-1"}, "got '-1'"),
        ({"x-hexsim-query": "q", "x-hexsim-step": "s", "x-hexsim-stage": "two"}, "got 'two'"),
        ({"x-hexsim-query": "q", "x-hexsim-step": "s", "x-hexsim-stage": "1.5"}, "got '1.5'"),
        ({"x-hexsim-query": "q", "x-hexsim-step": "s", "x-hexsim-stage": "٣"}, "got '٣'"),
        ({"x-hexsim-query": " ", "x-hexsim-step": "s", "x-hexsim-stage": "0"}, "X-Hexsim-Query must be a name"),
        ({"x-hexsim-query": "q" * 300, "x-hexsim-step": "s", "x-hexsim-stage": "0"}, "1 to 256 printable"),
        ({"x-hexsim-slo": "0"}, "X-Hexsim-SLO must be a positive number of seconds, got '0'"),
        ({"x-hexsim-slo": "nan"}, "got 'nan'"),
        ({"x-hexsim-slo": "inf"}, "got 'inf'"),
        ({"x-hexsim-slo": "soon"}, "got 'soon'"),
    ],
)
def test_a_malformed_workflow_header_is_named_with_its_value(headers, message):
    with pytest.raises(HeaderError, match=None) as caught:
        read_workflow(headers)
    assert message in str(caught.value)


def test_a_call_counts_token_ids_exactly_and_text_at_four_characters_a_token():
    body = read_body(json.dumps({"model": "m", "prompt": list(range(1234)), "max_tokens": 9}).encode(), chat=False)
    assert (body.model, body.input_tokens, body.stream) == ("m", 1234, False)
    assert read_body(b'{"model": "m", "prompt": "abcdefghi"}', chat=False).input_tokens == 3
    assert read_body(b'{"model": "m", "prompt": [[1, 2], [3]]}', chat=False).input_tokens == 3
    messages = [
        {"role": "system", "content": "x" * 40},
        {"role": "user", "content": [{"type": "text", "text": "y" * 8}]},
    ]
    chat = read_body(json.dumps({"model": "m", "messages": messages, "max_completion_tokens": 5}).encode(), chat=True)
    assert chat.input_tokens == 12


@pytest.mark.parametrize(
    ("raw", "chat", "message"),
    [
        (b"{nope", False, "not valid JSON"),
        (b"[1]", False, "must be a JSON object, got list"),
        (b'{"prompt": [1]}', False, "'model' must name the model to use, got None"),
        (b'{"model": 3, "prompt": [1]}', False, "got 3"),
        (b'{"model": "m"}', False, "'prompt' must be text or token ids, got None"),
        (b'{"model": "m", "prompt": [{"a": 1}]}', False, "got [{'a': 1}]"),
        (b'{"model": "m", "prompt": []}', False, "got []"),
        (b'{"model": "m", "prompt": [1], "stream": "yes"}', False, "'stream' must be true or false, got 'yes'"),
        (b'{"model": "m", "messages": "hi"}', True, "'messages' must be a list of messages, got 'hi'"),
        (b"[" * 100_000, False, "not valid JSON"),
    ],
)
def test_a_body_the_gateway_cannot_route_is_refused_naming_the_field(raw, chat, message):
    with pytest.raises(BodyError) as caught:
        read_body(raw, chat)
    assert message in str(caught.value)


METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
vllm:num_requests_waiting{engine="1",model_name="m"} 0.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="capacity"} 4.0
"""


def test_an_engines_load_sums_its_data_parallel_engines_and_keeps_the_fullest_cache():
    load = read_engine_load(METRICS)
    assert (load.running, load.waiting, load.kv_usage) == (5, 4, 0.75)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no vllm:num_requests_running, vllm:num_requests_waiting, vllm:kv_cache_usage_perc"),
        ("<html>hello</html>", "not Prometheus text"),
        (METRICS.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), "no vllm:kv_cache_usage_perc"),
    ],
)
def test_metrics_that_are_not_vllms_are_an_error(text, message):
    with pytest.raises(MetricsError) as caught:
        read_engine_load(text)
    assert message in str(caught.value)
