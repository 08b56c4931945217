"""/v1/chat/completions on the emulator: vLLM's shapes, prompts counted by words, read by the openai client."""

import json

import httpx
import openai
import pytest

from hexsim.live.emulator import emulator_in_thread
from hexsim.live.emulator_app import Limits
from hexsim.profiles.latency import IterationCoefficients, Profile

MODEL = "chat-model"
PROFILE = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.002, prefill_token=1e-6, prefill_token_sq=0.0, decode_seq=0.0, context_token=0.0
    ),
    kv_capacity_tokens=100_000,
    max_num_batched_tokens=1024,
)
CONTEXT = 64
# 2 + 3 + 4 words: a string, and a list of text parts.
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "how are"}, {"type": "text", "text": " you"}]},
    {"role": "assistant", "content": "fine thanks and you"},
]


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL, limits=Limits(CONTEXT)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(url):
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=10) as client:
        yield client


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)


def test_a_chat_completion_has_vllm_s_shape(url):
    answer = post(url, {"model": MODEL, "messages": MESSAGES, "max_tokens": 3})
    assert answer.status_code == 200
    body = answer.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL and body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "length"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] == " token token token"
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


@pytest.mark.parametrize(
    ("limits", "completion_tokens"),
    [
        ({"max_completion_tokens": 2, "max_tokens": 5}, 2),  # max_completion_tokens wins
        ({"max_tokens": 5}, 5),
        ({}, CONTEXT - 9),  # neither: the output fills the context, as in vLLM
    ],
)
def test_the_output_length_comes_from_max_completion_tokens_max_tokens_or_the_context(url, limits, completion_tokens):
    body = post(url, {"messages": MESSAGES} | limits).json()
    assert body["usage"]["completion_tokens"] == completion_tokens
    assert body["choices"][0]["message"]["content"] == " token" * completion_tokens


def test_a_chat_stream_starts_with_the_role_and_ends_with_usage(url):
    body = {
        "model": MODEL,
        "messages": MESSAGES,
        "max_completion_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    role, *content, usage = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert len({c["id"] for c in [role, *content, usage]}) == 1
    assert {c["object"] for c in [role, *content, usage]} == {"chat.completion.chunk"}
    assert role["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    ]
    assert [c["choices"][0]["delta"] for c in content] == [{"content": " token"}] * 3
    assert [c["choices"][0]["finish_reason"] for c in content] == [None, None, "length"]
    assert [c["usage"]["completion_tokens"] for c in [role, *content]] == [0, 1, 2, 3]
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def test_without_stream_options_a_chat_stream_has_no_usage(url):
    body = {"messages": MESSAGES, "max_tokens": 2, "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert len(chunks) == 3 and all("usage" not in c for c in chunks)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"max_tokens": 2}, "messages is required"),
        ({"messages": []}, "messages must not be empty"),
        ({"messages": [{"role": "user", "content": "  "}]}, "the prompt must not be empty"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "content[0]"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role must be a string, got None"),
        ({"messages": MESSAGES, "max_tokens": 2, "min_tokens": 3}, "less than or equal to max_tokens=2"),
        ({"messages": MESSAGES, "max_completion_tokens": 2, "min_tokens": 3}, "max_completion_tokens=2"),
        ({"messages": MESSAGES, "max_tokens": CONTEXT + 1}, f"max_tokens={CONTEXT + 1} cannot be greater than"),
        ({"messages": [{"role": "user", "content": "w " * CONTEXT}]}, f"your prompt contains {CONTEXT} input tokens"),
        ({"messages": MESSAGES, "priority": 1}, "Priority scheduling is not enabled"),
    ],
)
def test_a_bad_chat_request_gets_an_openai_style_error(url, body, needle):
    answer = post(url, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert needle in error["message"] and error["code"] == 400


def test_the_openai_client_reads_a_chat_completion(client):
    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_completion_tokens=4)
    assert answer.choices[0].message.content == " token" * 4
    assert answer.choices[0].message.role == "assistant" and answer.choices[0].finish_reason == "length"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (9, 4)


def test_the_openai_client_reads_a_chat_stream(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " token" * 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_the_openai_client_reads_a_completion_and_its_stream(client):
    answer = client.completions.create(model=MODEL, prompt="one two three", max_tokens=3)
    assert answer.choices[0].text == " token" * 3 and answer.usage.prompt_tokens == 3
    stream = client.completions.create(
        model=MODEL, prompt=[5, 6], max_tokens=5, stream=True, extra_body={"stream_interval": 2}
    )
    texts = [chunk.choices[0].text for chunk in stream]
    assert texts == [" token", " token" * 2, " token" * 2]


def test_the_openai_client_raises_the_emulator_s_error(client):
    with pytest.raises(openai.BadRequestError, match="n must be 1"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2, n=2)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="another", messages=MESSAGES, max_tokens=2)
